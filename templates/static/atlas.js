/* cnnatlas: small progressive enhancements; every page works without JavaScript. */
(function () {
  "use strict";
  // Normalization-scope switch: the radio buttons of a .scoped section set its data-scope
  // (map, class or set), and CSS shows the matching set of pre-rendered maps.
  document.querySelectorAll(".scoped").forEach(function (section) {
    section.querySelectorAll('.switch input[type="radio"]').forEach(function (input) {
      input.addEventListener("change", function () {
        if (input.checked) section.setAttribute("data-scope", input.value);
      });
      // a radio restored by the browser (back/forward) wins over the default scope
      if (input.checked) section.setAttribute("data-scope", input.value);
    });
  });
  document.documentElement.classList.add("js");
})();
