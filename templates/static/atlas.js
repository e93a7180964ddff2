/* cnnatlas: small progressive enhancements; every page works without JavaScript. */
(function () {
  "use strict";
  // Normalization-scope switch: the radio buttons set data-scope on their section,
  // and CSS shows the matching set of pre-rendered maps.
  document.querySelectorAll(".scoped").forEach(function (section) {
    section.querySelectorAll('input[name="scope"]').forEach(function (input) {
      input.addEventListener("change", function () {
        if (input.checked) section.setAttribute("data-scope", input.value);
      });
    });
  });
  document.documentElement.classList.add("js");
})();
