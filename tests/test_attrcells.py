"""CellTable (issue 10): the attribution cells of the sample set as arrays, read back as Cells."""

from __future__ import annotations

import numpy as np

from cnnatlas.attrcells import CellTable
from cnnatlas.site import MethodInfo, Variant


def _variant(name: str, signed: bool, diag: tuple[str, ...] = ()) -> Variant:
    m = MethodInfo(name, name.title(), signed, "", 1, (), "pred_true", diag)
    return Variant(m, "input")


def test_cells_read_back_what_was_put():
    ig = _variant("ig", True, ("sum", "delta", "error"))
    cam = _variant("cam", False)
    t = CellTable(["a", "b"], [ig, cam])
    t.put("a", ig, 0, 2, 3, ("map", "class", "set"), (0.5, 0.75, 2.0), np.float32([1, 2, 0.01]))
    t.put("a", ig, 1, 2, 7, ("map", "map", "set"), (0.25, 0.25, 2.0), np.float32([3, 4, 0.02]))
    t.put("b", ig, 0, 2, 1, ("map", "map", "map"), (2.0, 2.0, 2.0), np.float32([5, 6, 0.03]))
    t.put("a", cam, 0, 2, 3, ("map", "class", "class"), (0.5, 1.0, 1.0))

    cells = t["a"]["ig/input"]
    assert list(cells) == [3, 7]  # target order
    c = cells[3]
    assert c.range == {"map": (-0.5, 0.5), "class": (-0.75, 0.75), "set": (-2.0, 2.0)}
    assert c.img["set"] == "img/samples/a/ig/input/3-set.png"
    assert cells[7].img["class"] == cells[7].img["map"]  # equal scales share one file
    assert c.diag == {"sum": 1.0, "delta": 2.0, "error": float(np.float32(0.01))}
    assert "faith" not in c and "diag" in c
    assert t["a"]["cam/input"][3].range["class"] == (0.0, 1.0)  # unsigned: [0, top]
    assert t["b"]["cam/input"] == {}  # nothing put for b
    assert list(t) == ["a", "b"] and set(t["a"]) == {"ig/input", "cam/input"}

    assert t.set_faith("a", "ig/input", 7, (0.1, 0.9))
    assert not t.set_faith("a", "ig/input", 5, (0.1, 0.9))  # no map of class 5
    assert not t.set_faith("a", "baseline/random", 3, (0.1, 0.9))  # not a variant
    assert t["a"]["ig/input"][7]["faith"] == {"deletion": 0.1, "insertion": 0.9}
    assert "faith" not in t["a"]["ig/input"][3]

    errors = sorted(t.diagnostic("ig/input", "error").tolist())
    assert errors == [float(np.float32(v)) for v in (0.01, 0.02, 0.03)]
    assert len(t.diagnostic("cam/input", "error")) == 0
