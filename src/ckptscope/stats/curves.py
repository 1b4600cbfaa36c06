"""A smooth parametric curve for weight-norm trajectories, fitted to the early steps.

Family (``rise_decay``)::

    f(t) = a + b * (t / c) ** p * exp(-t / c)        a >= 0, p >= 0, c > 0

Why this family. The post's norms (F7, F8, F14) rise from their initial value, peak and
then decline under weight decay. ``a`` is the level the curve starts from and returns to
(the initial norm), ``(t / c) ** p`` is a power-law rise (Adam steps of near-constant size
grow a norm like a power of the step count), and ``exp(-t / c)`` the decline: decoupled
weight decay multiplies weights by ``1 - lr * wd`` each step, an exponential in ``t``. The
peak is at ``t = p * c``. With ``b < 0`` the same form dips and recovers; with ``p`` near 0
it is a pure exponential approach; with ``c`` past the fit range it rises without turning.
Four parameters, each readable, and curves of the family are not forced to turn down: the
fit only predicts a decline the early steps already show.

Fitting: :func:`scipy.optimize.curve_fit` (trust-region, with bounds) on steps scaled to
the fit range (``t / t_end``, so parameters are of order one), from a few starting points
(the best residual wins). A fit that fails, or gives a non-finite curve, is returned as a
:class:`CurveFit` with ``ok`` False and the reason, never raised.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

FAMILY = "rise_decay"
PARAMS = ("a", "b", "p", "c")
#: fewer checkpoints in the fit range than this: no fit (four parameters and one to spare)
MIN_POINTS = len(PARAMS) + 1
#: bounds in scaled steps (t / t_end): p in [0, 8], c in [1e-3, 1e3] fit ranges
_LOWER = (0.0, -np.inf, 0.0, 1e-3)
_UPPER = (np.inf, np.inf, 8.0, 1e3)


def rise_decay(t: np.ndarray, a: float, b: float, p: float, c: float) -> np.ndarray:
    """``a + b * (t / c) ** p * exp(-t / c)`` in float64 (``0 ** 0`` is 1: ``f(0) = a + b``
    when ``p`` is 0)."""
    x = np.asarray(t, dtype=np.float64) / c
    return a + b * np.power(x, p) * np.exp(-x)


def _rise_decay_jac(t: np.ndarray, a: float, b: float, p: float, c: float) -> np.ndarray:
    """Partial derivatives of :func:`rise_decay` in ``(a, b, p, c)``, ``(len(t), 4)``.

    ``d/dp = b g ln(t/c)`` with ``g = (t/c)^p e^(-t/c)``, taken as 0 where ``t = 0`` (its
    limit for ``p > 0``); ``d/dc = b g (t/c - p) / c``.
    """
    x = np.asarray(t, dtype=np.float64) / c
    g = np.power(x, p) * np.exp(-x)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_x = np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), 0.0)
    return np.stack([np.ones_like(x), g, b * g * log_x, b * g * (x - p) / c], axis=1)


@dataclass(frozen=True)
class CurveFit:
    """A fitted curve: parameters in training steps, or why there is none."""

    family: str
    params: tuple[float, ...] | None  # (a, b, p, c), c in steps; None when the fit failed
    n_points: int
    error: str | None = None
    at_bound: tuple[str, ...] = ()  # parameters the fit left on a bound (less trustworthy)

    @property
    def ok(self) -> bool:
        return self.params is not None

    def predict(self, steps: np.ndarray) -> np.ndarray:
        """The curve at ``steps`` (NaN everywhere for a failed fit)."""
        steps = np.asarray(steps, dtype=np.float64)
        if self.params is None:
            return np.full(steps.shape, np.nan)
        return rise_decay(steps, *self.params)


def _starts(x: np.ndarray, y: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Starting points: a rise to the peak seen, a plain rise, a decline."""
    a0, span = float(max(y[0], 0.0)), float(np.ptp(y)) or float(abs(y[0])) or 1.0
    x_peak = float(x[int(np.argmax(y))]) or 1.0
    rising = [(a0, span * np.e, 1.0, x_peak), (a0, span, 0.5, 2.0), (a0, span, 2.0, x_peak / 2)]
    return [*rising, (float(max(y[-1], 0.0)), float(y[0] - y[-1]), 0.0, 0.5)]


def fit_rise_decay(steps: np.ndarray, values: np.ndarray) -> CurveFit:
    """Least-squares :func:`rise_decay` through ``(steps, values)`` (see the module docstring)."""
    t = np.asarray(steps, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(t) & np.isfinite(y)
    t, y = t[keep], y[keep]
    n = int(t.size)
    if n < MIN_POINTS:
        return CurveFit(FAMILY, None, n, f"{n} finite points in the fit range, need {MIN_POINTS}")
    if np.any(t < 0):
        return CurveFit(FAMILY, None, n, "negative steps")
    # SciPy's optimisers only when a fit runs (0.2-0.4 s of a short sweep's derivations)
    from scipy.optimize import curve_fit

    scale = float(t.max()) or 1.0
    x = t / scale
    best: tuple[float, np.ndarray] | None = None
    reason = "no starting point converged"
    for p0 in _starts(x, y):
        p0 = np.clip(p0, _LOWER, _UPPER)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # OptimizeWarning: covariance not estimated
                popt, _ = curve_fit(rise_decay, x, y, p0=p0, bounds=(_LOWER, _UPPER),
                                    method="trf", jac=_rise_decay_jac, maxfev=20000)  # fmt: skip
        except (RuntimeError, ValueError) as err:
            reason = str(err).splitlines()[0]
            continue
        sse = float(np.sum((rise_decay(x, *popt) - y) ** 2))
        if np.isfinite(sse) and (best is None or sse < best[0]):
            best = (sse, popt)
    if best is None:
        return CurveFit(FAMILY, None, n, reason)
    popt = best[1]
    at_bound = tuple(name for name, v, lo, hi in zip(PARAMS, popt, _LOWER, _UPPER, strict=True)
                     if np.isclose(v, lo, rtol=1e-6, atol=1e-9) or np.isclose(v, hi, rtol=1e-6))  # fmt: skip
    a, b, p, c = (float(v) for v in popt)
    return CurveFit(FAMILY, (a, b, p, c * scale), n, at_bound=at_bound)
