"""The standard curve Bio-Plex Manager prints under each analyte sheet, as 4PL/5PL parameters.

A Bio-Plex result sheet ends with (readers/bioplex.py keeps them in ``PlateInfo.extra``)::

    Regression Type: Logistic - 5PL
    Std. Curve: FI = 0.582906 + (167.081 - 0.582906) / ((1 + (Conc / 0.531813)^-5.30023))^0.1
    FitProb. = 0.4790, ResVar. = 0.8266

i.e. ``FI = A + (B − A) / ((1 + (Conc / C)^P))^E``. That is exactly our 5PL (assay/curves.py)
``y = d + (a − d) / (1 + (x/c)^b)^g`` with ``d = A``, ``a = B``, ``c = C``, ``b = P``, ``g = E`` — no
re-parametrisation; Bio-Plex writes ``P < 0`` (the asymmetry on the low-concentration side). A 4PL footer
has no outer exponent (``g = 1``) and is returned in our 4PL convention (``b > 0``, ``a`` at zero).

What the corpus shows about the fit behind it (checked on every analyte of the three LabKey exports):

* the curve is in **FI − Bkgd** units although it says ``FI``: each standard's ``Obs Conc`` is the inverse
  of its FI minus the mean FI of the plate's blanks (``B`` wells), not of its FI;
* it is fitted to the **mean per standard level**: ``FitProb = P(χ²_dof > dof · ResVar)`` with
  ``dof = levels − 5`` holds to 4 decimals, with levels = the standard levels that have a signal
  (outlier levels ``---`` excluded), whatever the number of replicate wells;
* ``ResVar`` (the reduced χ²) does not match 1, 1/y, 1/y², 1/ŷ or 1/ŷ² weights nor the replicate
  variances, so the weighting is Bio-Plex's own; ``g`` is bounded to [0.1, 10] (footers sit on both bounds).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from assay.curves import CurveFit, Model

_NUM = r"[-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?"
_CURVE_RE = re.compile(
    rf"""^\s*(?:FI|MFI|y)\s*=\s*(?P<A>{_NUM})\s*          # A
    \+\s*\(\s*(?P<B>{_NUM})\s*(?P<op>[-+])\s*(?P<A2>{_NUM})\s*\)\s*/\s*   # (B - A) or (B + |A|)
    (?P<open>\(\s*)?\(\s*1\s*\+\s*\(\s*Conc\s*/\s*(?P<C>{_NUM})\s*\)\s*\^\s*\(?\s*(?P<P>{_NUM})\s*\)?\s*\)
    (?(open)\s*\)\s*\^\s*\(?\s*(?P<E>{_NUM})\s*\)?)\s*$""",
    re.IGNORECASE | re.VERBOSE,
)


def _num(text: str) -> float:
    return float(text.replace(",", "."))


@dataclass(frozen=True)
class FooterCurve:
    """One analyte's ``Std. Curve:`` footer: the equation as written and its parameters in our form."""

    equation: str
    model: Model
    a: float  # B in Bio-Plex's equation (for its b < 0: the response at infinite concentration)
    b: float
    c: float
    d: float  # A (for b < 0: the response at zero concentration)
    g: float | None
    regression: str | None = None
    fit_prob: float | None = None
    res_var: float | None = None

    def as_fit(self) -> CurveFit:
        """The footer as a :class:`CurveFit` (``predict``/``inverse``); Bio-Plex's weighting is unknown,
        recorded as ``"none"``, and there are no residuals."""
        return CurveFit(
            a=self.a,
            b=self.b,
            c=self.c,
            d=self.d,
            r_squared=math.nan,
            weighting="none",
            converged=True,
            message="Bio-Plex Manager's own curve (Std. Curve footer)",
            model=self.model,
            g=self.g,
        )


def parse_bioplex_curve(
    equation: str,
    *,
    regression: str | None = None,
    fit_prob: str | float | None = None,
    res_var: str | float | None = None,
) -> FooterCurve | None:
    """Parameters of a ``Std. Curve:`` equation (with or without the ``Std. Curve:`` prefix); None when
    the text is not a logistic of that shape, or when its ``(B − A)`` term does not repeat ``A``."""
    text = re.sub(r"^\s*Std\.?\s*Curve\s*:\s*", "", equation.strip(), flags=re.IGNORECASE)
    m = _CURVE_RE.match(text)
    if not m:
        return None
    big_a, big_b, a2 = _num(m["A"]), _num(m["B"]), _num(m["A2"])
    # "(B - A)" writes A again, sign flipped when A < 0: "-8.49859 + (20147.9 + 8.49859)".
    repeated = a2 if m["op"] == "-" else -a2
    if not math.isclose(repeated, big_a, rel_tol=1e-9, abs_tol=1e-12):
        return None
    c, p = _num(m["C"]), _num(m["P"])
    if not (c > 0 and p != 0 and all(math.isfinite(v) for v in (big_a, big_b, c, p))):
        return None
    e = m["E"]
    model: Model
    if e is None:  # 4PL: our convention has b > 0 (the same curve with the asymptotes swapped)
        model, g = "4PL", None
        a, b, d = (big_b, p, big_a) if p > 0 else (big_a, -p, big_b)
    else:
        model, g, a, b, d = "5PL", _num(e), big_b, p, big_a
        if not g > 0:
            return None
    return FooterCurve(
        equation=equation.strip(),
        model=model,
        a=a,
        b=b,
        c=c,
        d=d,
        g=g,
        regression=regression,
        fit_prob=_maybe_float(fit_prob),
        res_var=_maybe_float(res_var),
    )


def _maybe_float(value: str | float | None) -> float | None:
    if value is None:
        return None
    try:
        out = float(str(value).strip().replace(",", "."))
    except ValueError:
        return None
    return out if math.isfinite(out) else None


def footer_curves(extra: Mapping[str, str]) -> dict[str, FooterCurve]:
    """Every parsable ``curve:<analyte>`` of a Bio-Plex plate's ``PlateInfo.extra``, by analyte as
    written, with its ``regression:``/``fitprob:``/``resvar:`` companions."""
    out: dict[str, FooterCurve] = {}
    for key, value in extra.items():
        if not key.startswith("curve:"):
            continue
        analyte = key.removeprefix("curve:")
        parsed = parse_bioplex_curve(
            value,
            regression=extra.get(f"regression:{analyte}"),
            fit_prob=extra.get(f"fitprob:{analyte}"),
            res_var=extra.get(f"resvar:{analyte}"),
        )
        if parsed is not None:
            out[analyte] = parsed
    return out
