"""What the pages show of each attribution map (issue 4), held as arrays (issue 10: memory).

`CellTable` is `cells[sample id][variant key][class] -> Cell` for every map of the sample set.
Objects per map (a `Cell` and its tuples) were ~15 KB a sample held for the whole build, and
more in fragmented heap: 10,000 samples have ~580,000 maps. The table keeps, per variant, a few
(samples × targets) arrays (~3 KB a sample) and makes the `Cell`s a page asks for when it asks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from .site import Variant, img_path

# Normalization scopes of attribution maps: the colour scale of a map is its own, shared by every
# method's map for the same sample and class, or shared by the method's maps of the whole sample
# set. Raw values are cached; the scale is chosen only when drawing.
SCOPES = {
    "map": "per map",
    "class": "shared across methods for a class",
    "set": "shared across the sample set",
}
_SCOPE_NAMES = tuple(SCOPES)


class Cell:
    """One map as a page shows it: its image and value range in each scope (`img`, `range`:
    {scope: path}, {scope: (lo, hi)}), its diagnostics (`diag`: {name: value}) and, where the
    faithfulness check measured it, its deletion/insertion AUCs (`faith`). Read as attributes or
    items (`cell["img"]`, `"faith" in cell`)."""

    __slots__ = (
        "_cls",
        "_diag",
        "_files",
        "_names",
        "_sample",
        "_signed",
        "_tops",
        "_variant",
        "faith",
    )

    def __init__(
        self,
        where: tuple[str, str, int],
        files: tuple[str, ...],
        tops: tuple[float, ...],
        signed: bool,
        names: tuple[str, ...] = (),
        diag: tuple[float, ...] = (),
        faith: tuple[float, float] | None = None,
    ) -> None:
        """where: (sample id, variant key, class) of the map; files: the scope whose file each
        scope shows; tops: each scope's colour-scale extent (the range is ±top or [0, top])."""
        self._sample, self._variant, self._cls = where
        self._files, self._tops, self._signed = files, tops, signed
        self._names, self._diag = names, diag
        self.faith = None if faith is None else {"deletion": faith[0], "insertion": faith[1]}

    def path(self, scope: str) -> str:
        """The image drawn for `scope` (scopes with equal extents share one)."""
        return img_path("samples", self._sample, self._variant, f"{self._cls}-{scope}")

    @property
    def img(self) -> dict[str, str]:
        return {sc: self.path(f) for sc, f in zip(SCOPES, self._files, strict=True)}

    @property
    def range(self) -> dict[str, tuple[float, float]]:
        pairs = zip(SCOPES, self._tops, strict=True)
        return {sc: ((-t, t) if self._signed else (0.0, t)) for sc, t in pairs}

    @property
    def diag(self) -> dict[str, float]:
        return dict(zip(self._names, self._diag, strict=True))

    def __getitem__(self, name: str):
        if name == "faith" and self.faith is None:
            raise KeyError(name)
        return getattr(self, name)

    def __contains__(self, name: str) -> bool:
        return name in ("img", "range", "diag") or (name == "faith" and self.faith is not None)


class _Columns:
    """One variant's maps: row = sample, slot = its t-th target (a class shown once)."""

    def __init__(self, n: int, n_targets: int, n_diag: int) -> None:
        s = len(SCOPES)
        self.cls = np.full((n, n_targets), -1, np.int16)  # -1: no map in this slot
        self.files = np.zeros((n, n_targets, s), np.uint8)  # index of the scope drawn
        self.tops = np.zeros((n, n_targets, s), np.float64)
        self.diag = np.zeros((n, n_targets, n_diag), np.float32)  # stored as computed
        self.faith = np.full((n, n_targets, 2), np.nan)


class CellTable(Mapping):
    """cells[sample id][variant key][class] -> `Cell`, filled with `put` and `set_faith`."""

    def __init__(self, sample_ids: Sequence[str], variants: Sequence[Variant]) -> None:
        self._row = {sid: i for i, sid in enumerate(sample_ids)}
        self._variants = {v.key: v for v in variants}
        self._cols: dict[str, _Columns] = {}
        # The last sample's {variant key: cells}: a sample page reads them several times.
        self._recent: tuple[str, dict[str, dict[int, Cell]]] = ("", {})

    def put(
        self,
        sid: str,
        variant: Variant,
        slot: int,
        n_targets: int,
        cls: int,
        files: tuple[str, ...],
        tops: tuple[float, ...],
        diag: Sequence[float] = (),
    ) -> None:
        """Record the map of `cls` in target slot `slot` (of `n_targets`) of sample `sid`."""
        self._recent = ("", {})
        cols = self._cols.get(variant.key)
        if cols is None:
            names = variant.method.diagnostic_names
            cols = self._cols[variant.key] = _Columns(len(self._row), n_targets, len(names))
        i = self._row[sid]
        cols.cls[i, slot] = cls
        cols.files[i, slot] = [_SCOPE_NAMES.index(f) for f in files]
        cols.tops[i, slot] = tops
        if len(diag):
            cols.diag[i, slot] = diag

    def set_faith(self, sid: str, key: str, cls: int, aucs: tuple[float, float]) -> bool:
        """Attach (deletion, insertion) AUCs to the map of `cls`; False if there is none."""
        self._recent = ("", {})
        cols, i = self._cols.get(key), self._row.get(sid)
        if cols is None or i is None:
            return False
        slots = np.flatnonzero(cols.cls[i] == cls)
        if not len(slots):
            return False
        cols.faith[i, slots[0]] = aucs
        return True

    def diagnostic(self, key: str, name: str) -> np.ndarray:
        """Diagnostic `name` of every map of variant `key`, (M,) float32."""
        cols = self._cols.get(key)
        names = self._variants[key].method.diagnostic_names if key in self._variants else ()
        if cols is None or name not in names:
            return np.zeros(0, np.float32)
        return cols.diag[..., names.index(name)][cols.cls >= 0]

    def cells(self, sid: str, key: str) -> dict[int, Cell]:
        """{class: Cell} of one sample and variant, in target order (do not modify it)."""
        if self._recent[0] != sid:
            self._recent = (sid, {})
        made = self._recent[1]
        if key not in made:
            made[key] = self._make(sid, key)
        return made[key]

    def _make(self, sid: str, key: str) -> dict[int, Cell]:
        cols, i, v = self._cols.get(key), self._row[sid], self._variants[key]
        if cols is None:
            return {}
        out = {}
        signed, names = v.method.signed, v.method.diagnostic_names
        for slot, c in enumerate(cols.cls[i].tolist()):
            if c < 0:
                continue
            faith = cols.faith[i, slot]
            out[c] = Cell(
                (sid, key, c),
                tuple(_SCOPE_NAMES[f] for f in cols.files[i, slot].tolist()),
                tuple(cols.tops[i, slot].tolist()),
                signed,
                names,
                tuple(cols.diag[i, slot].tolist()),
                None if np.isnan(faith[0]) else (float(faith[0]), float(faith[1])),
            )
        return out

    def __getitem__(self, sid: str) -> Mapping[str, dict[int, Cell]]:
        if sid not in self._row:
            raise KeyError(sid)
        return _SampleCells(self, sid)

    def __iter__(self) -> Iterator[str]:
        return iter(self._row)

    def __len__(self) -> int:
        return len(self._row)


class _SampleCells(Mapping):
    """cells[sample id]: {variant key: {class: Cell}}, made when read."""

    def __init__(self, table: CellTable, sid: str) -> None:
        self._table, self._sid = table, sid

    def __getitem__(self, key: str) -> dict[int, Cell]:
        if key not in self._table._variants:
            raise KeyError(key)
        return self._table.cells(self._sid, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._table._variants)

    def __len__(self) -> int:
        return len(self._table._variants)
