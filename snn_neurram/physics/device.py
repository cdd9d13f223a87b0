"""The RRAM device population: write-verify programming, relaxation, read noise, faults, drift.

Pure numpy on arrays of conductances in siemens. Every random draw comes from a
``numpy.random.Generator`` that the caller passes in. Each physical effect has its own switch; an
``RRAMDevice`` with every switch off (:meth:`RRAMDevice.ideal`) stores exactly the target
conductances and reads them back without error.

Timeline of one device, as modelled here::

    program(targets)   write-verify: SET/RESET pulses until the verify read lies in the band
    relax(G, t)        random spread sigma(G, t) that grows in log-time after programming
    drift(G, t)        optional systematic power-law decay G (t / t0) ** -nu
    read(G)            fresh relative read noise at every read

Stuck-at faults are a property of the array, drawn once (:meth:`RRAMDevice.sample_faults`);
stuck cells keep their stuck value through every step above.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields, replace
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from .._checks import as_si, check_choice, check_int, check_range

__all__ = ["RRAMDevice", "ProgramResult", "RELAXATION_FITS", "FAULT_NONE", "FAULT_STUCK_OFF",
           "FAULT_STUCK_ON"]

#: Published polynomial fits of the conductance spread after write-verify (Nature 2022 ED Fig. 3):
#: time after programming (s) -> (c0, c1, c2, c3, c4) in microsiemens, with x = G / 40 uS and
#: sigma = c0 + c1 x + c2 x^2 + c3 x^3 + c4 x^4.
RELAXATION_FITS = {
    1.0: (0.348, 16.030, -43.853, 45.393, -16.815),
    86400.0: (0.701, 22.086, -50.773, 47.095, -16.458),
    172800.0: (0.782, 20.274, -43.507, 37.062, -11.934),
}
_FIT_G_REF = 40e-6  # S, the normalisation of x in the fits

FAULT_NONE, FAULT_STUCK_OFF, FAULT_STUCK_ON = 0, 1, 2


class ProgramResult(NamedTuple):
    """Outcome of write-verify programming.

    Attributes
    ----------
    conductance : ndarray
        Conductance of every device right after programming (S).
    pulses : ndarray of int
        SET + RESET pulses applied to each device.
    converged : ndarray of bool
        True where the last verify read fell inside the acceptance band.
    """

    conductance: np.ndarray
    pulses: np.ndarray
    converged: np.ndarray

    def __repr__(self) -> str:
        g = np.asarray(self.conductance)
        return (f"ProgramResult({g.size} cells, conductance {1e6 * g.min():.3g}..."
                f"{1e6 * g.max():.3g} uS, {float(np.mean(self.pulses)):.1f} pulses per cell "
                f"on average, {int(np.size(self.converged) - np.count_nonzero(self.converged))} "
                "not converged)")


#: Largest write-verify iteration limit: it bounds the programming time of a core.
MAX_PULSES = 1000


@dataclass(frozen=True)
class RRAMDevice:
    """Parameters and physics of one population of RRAM cells.

    Conductances are in siemens, times in seconds; Brian2 quantities are accepted for every
    dimensioned parameter. Defaults follow ``DESIGN.md`` §1 where the paper gives a value and are
    marked *assumption* in ``docs/device-model.md`` where it does not.

    Parameters
    ----------
    g_min, g_max : float
        Programming window (S): the lowest and highest target conductance. Defaults 1 uS and 40 uS.
    g_floor, g_ceiling : float
        Physical limits (S) that no conductance leaves, whatever the pulses or relaxation do.
        Defaults 0.1 uS and 60 uS (assumption).
    write_verify : bool
        Program by iterative pulses and verify reads. Off: devices land exactly on target.
    tolerance : float
        Half-width (S) of the write-verify acceptance band around the target, > 0 with
        write-verify on (a warning below a quarter of ``step_initial``). Default 1 uS.
    max_pulses : int
        Iteration limit of write-verify per device, 1-1000. Default 100 (assumption).
    step_initial : float
        Mean conductance change (S) of the first pulse after a change of direction. Default 0.4 uS.
    step_growth : float
        Factor by which the mean step grows with each further pulse in the same direction
        (incremental-step pulse programming). Default 1.3.
    step_max : float
        Largest mean step (S). Default 4 uS.
    step_cv : float
        Cycle-to-cycle coefficient of variation of the step of one pulse. Default 0.5.
    verify_reads : int
        Reads averaged for each verify decision (read noise applies when it is on). Default 4.
    verify_guard : float
        Guard band of the verify decision in standard deviations of the averaged verify read: a
        device is accepted when its read lies within ``tolerance - verify_guard * sigma_read`` of
        the target (at least a quarter of the tolerance). Default 2.
    initial_state : {"uniform", "reset"}
        State before programming: uniform over the window (an array holding earlier weights), or
        g_min (freshly RESET). Default "uniform".
    variation : bool
        Device-to-device variation of the pulse response: each device's steps are scaled by a
        lognormal factor with log-standard-deviation ``variation_sigma`` (default 0.3).
    relaxation : bool
        Conductance relaxation after programming, sigma(G, t) from :data:`RELAXATION_FITS`.
    read_noise : bool
        Fresh relative read noise at every read, standard deviation ``read_noise_sigma`` x G
        (default 0.01, assumption: the paper does not characterise it).
    faults : bool
        Stuck-at faults: ``stuck_off_rate`` (default 1e-3) of the cells stuck at ``g_stuck_off``
        (default 0.1 uS), ``stuck_on_rate`` (default 1e-3) stuck at ``g_stuck_on`` (default 40 uS).
    drift : bool
        Systematic decay G(t) = G (t / drift_t0) ** -nu for t > drift_t0, nu per device drawn from
        N(drift_nu, drift_nu_sigma**2). Default off; nu 0.005 +- 0.002, t0 = 1 s (assumption).
    """

    g_min: float = 1e-6
    g_max: float = 40e-6
    g_floor: float = 0.1e-6
    g_ceiling: float = 60e-6
    write_verify: bool = True
    tolerance: float = 1e-6
    max_pulses: int = 100
    step_initial: float = 0.4e-6
    step_growth: float = 1.3
    step_max: float = 4e-6
    step_cv: float = 0.5
    verify_reads: int = 4
    verify_guard: float = 2.0
    initial_state: str = "uniform"
    variation: bool = True
    variation_sigma: float = 0.3
    relaxation: bool = True
    read_noise: bool = True
    read_noise_sigma: float = 0.01
    faults: bool = True
    stuck_off_rate: float = 1e-3
    stuck_on_rate: float = 1e-3
    g_stuck_off: float = 0.1e-6
    g_stuck_on: float = 40e-6
    drift: bool = False
    drift_nu: float = 0.005
    drift_nu_sigma: float = 0.002
    drift_t0: float = 1.0

    def __post_init__(self):
        conv = {}
        for name in ("g_min", "g_max", "g_floor", "g_ceiling", "tolerance", "step_initial",
                     "step_max", "g_stuck_off", "g_stuck_on"):
            conv[name] = check_range(getattr(self, name), name, 0.0, None, unit="siemens")
        conv["drift_t0"] = check_range(self.drift_t0, "drift_t0", 0.0, None, lo_open=True,
                                       unit="second")
        for name in ("step_growth",):
            conv[name] = check_range(getattr(self, name), name, 1.0, None)
        for name in ("step_cv", "variation_sigma", "read_noise_sigma", "drift_nu_sigma",
                     "verify_guard"):
            conv[name] = check_range(getattr(self, name), name, 0.0, None)
        conv["drift_nu"] = as_si(self.drift_nu, "drift_nu")
        for name in ("stuck_off_rate", "stuck_on_rate"):
            conv[name] = check_range(getattr(self, name), name, 0.0, 1.0)
        conv["max_pulses"] = check_int(self.max_pulses, "max_pulses", 1, MAX_PULSES)
        conv["verify_reads"] = check_int(self.verify_reads, "verify_reads", 1, 1000)
        check_choice(self.initial_state, "initial_state", ("uniform", "reset"))
        for name in ("write_verify", "variation", "relaxation", "read_noise", "faults", "drift"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False (got {getattr(self, name)!r})")
        for name, value in conv.items():
            object.__setattr__(self, name, value)
        if not self.g_min < self.g_max:
            raise ValueError(f"g_min must be below g_max (got g_min={self.g_min:g} S, "
                             f"g_max={self.g_max:g} S)")
        if not self.g_floor <= self.g_min or not self.g_max <= self.g_ceiling:
            raise ValueError("the physical limits must enclose the window: need "
                             f"g_floor <= g_min < g_max <= g_ceiling (got {self.g_floor:g}, "
                             f"{self.g_min:g}, {self.g_max:g}, {self.g_ceiling:g} S)")
        if self.stuck_off_rate + self.stuck_on_rate > 1:
            raise ValueError("stuck_off_rate + stuck_on_rate must not exceed 1")
        if self.write_verify:
            if self.tolerance <= 0:
                raise ValueError("tolerance must be > 0 S with write_verify on: no read lands "
                                 "exactly on its target, so no cell would ever converge")
            if self.tolerance < 0.25 * self.step_initial:
                warnings.warn(f"tolerance {self.tolerance:g} S is below a quarter of the first "
                              f"pulse's step ({self.step_initial:g} S): most cells will use all "
                              f"{self.max_pulses} pulses without converging", stacklevel=3)

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def ideal(cls, **params: Any) -> RRAMDevice:
        """A device with every non-ideality switched off (exact programming, no noise)."""
        base: dict[str, Any] = dict(write_verify=False, variation=False, relaxation=False,
                                    read_noise=False, faults=False, drift=False)
        base.update(params)
        return cls(**base)

    def with_effects(self, **switches: Any) -> RRAMDevice:
        """Copy with some effects switched, e.g. ``device.with_effects(read_noise=False)``."""
        return replace(self, **switches)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form of the parameters (SI floats), for reports and saved files."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def g_range(self) -> float:
        """Width of the programming window g_max - g_min (S)."""
        return self.g_max - self.g_min

    # ------------------------------------------------------------------ array properties
    def sample_faults(self, shape: int | tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Draw the stuck-at map of an array.

        Returns an int8 array: :data:`FAULT_NONE`, :data:`FAULT_STUCK_OFF` or
        :data:`FAULT_STUCK_ON` per cell (all ``FAULT_NONE`` when faults are off).
        """
        faults = np.zeros(shape, dtype=np.int8)
        if self.faults:
            u = rng.random(shape)
            faults[u < self.stuck_off_rate] = FAULT_STUCK_OFF
            faults[(u >= self.stuck_off_rate) & (u < self.stuck_off_rate + self.stuck_on_rate)] = \
                FAULT_STUCK_ON
        return faults

    def sample_response(self, shape: int | tuple[int, ...],
                        rng: np.random.Generator) -> np.ndarray:
        """Per-device factor on the pulse step (device-to-device variation); ones when off."""
        if not self.variation or self.variation_sigma == 0:
            return np.ones(shape)
        return rng.lognormal(0.0, self.variation_sigma, shape)

    def sample_drift_nu(self, shape: int | tuple[int, ...],
                        rng: np.random.Generator) -> np.ndarray:
        """Per-device drift exponent nu; zeros when drift is off."""
        if not self.drift:
            return np.zeros(shape)
        return rng.normal(self.drift_nu, self.drift_nu_sigma, shape)

    def apply_faults(self, G: np.ndarray, faults: np.ndarray | None) -> np.ndarray:
        """Set stuck cells to their stuck conductance (returns a new array)."""
        if faults is None:
            return G
        G = np.array(G, dtype=float, copy=True)
        G[faults == FAULT_STUCK_OFF] = self.g_stuck_off
        G[faults == FAULT_STUCK_ON] = self.g_stuck_on
        return G

    # ------------------------------------------------------------------ programming
    def program(self, targets: ArrayLike, rng: np.random.Generator,
                faults: np.ndarray | None = None,
                response: ArrayLike | None = None) -> ProgramResult:
        """Program every device to its target by write-verify.

        Each iteration reads every unfinished device (averaging ``verify_reads`` noisy reads when
        read noise is on); a device whose read lies within ``tolerance`` of its target, less the
        guard band ``verify_guard`` x (standard deviation of that read), is done.
        Otherwise it gets a SET pulse (read below target) or a RESET pulse (above). The mean step of
        a pulse starts at ``step_initial`` after a change of direction and grows by ``step_growth``
        per further pulse in the same direction up to ``step_max``; the actual step is that mean
        times the device's response factor times ``max(0, 1 + step_cv * N(0, 1))``. Devices that
        are not done after ``max_pulses`` pulses keep their last conductance.

        Parameters
        ----------
        targets : array_like
            Target conductances (S), inside [g_floor, g_ceiling].
        rng : numpy.random.Generator
            Source of every random draw.
        faults : ndarray of int8, optional
            Stuck-at map from :meth:`sample_faults` (same shape); stuck cells ignore the pulses.
        response : ndarray, optional
            Per-device step factors from :meth:`sample_response`; drawn here when omitted.

        Returns
        -------
        ProgramResult
        """
        targets = np.asarray(targets, dtype=float)
        if targets.size and (not np.all(np.isfinite(targets)) or targets.min() < self.g_floor
                             or targets.max() > self.g_ceiling):
            raise ValueError(f"targets must be finite conductances in [g_floor, g_ceiling] = "
                             f"[{self.g_floor:g}, {self.g_ceiling:g}] S")
        shape = targets.shape
        if faults is not None and faults.shape != shape:
            raise ValueError(f"faults has shape {faults.shape}; it must match targets {shape}")
        if not self.write_verify:
            G = self.apply_faults(targets.copy(), faults)
            ok = np.abs(G - targets) <= self.tolerance
            return ProgramResult(G, np.zeros(shape, dtype=np.int32), ok)
        if response is None:
            response = self.sample_response(shape, rng)
        if self.initial_state == "uniform":
            G = rng.uniform(self.g_min, self.g_max, shape)
        else:
            G = np.full(shape, self.g_min)
        G = self.apply_faults(G, faults)
        pulses = np.zeros(shape, dtype=np.int32)
        run = np.zeros(shape, dtype=np.int32)       # pulses in the current direction so far
        last_dir = np.zeros(shape, dtype=np.int8)
        stuck = np.zeros(shape, bool) if faults is None else faults != FAULT_NONE
        flat = lambda a: a.reshape(-1)  # noqa: E731 - views for fancy indexing
        G_f, t_f, p_f, r_f, d_f, resp_f, stuck_f = map(
            flat, (G, targets, pulses, run, last_dir, np.broadcast_to(response, shape).copy(),
                   stuck))
        active = np.arange(G_f.size)
        read_sigma = self.read_noise_sigma / np.sqrt(self.verify_reads) if self.read_noise else 0.0
        guard = self.verify_guard * read_sigma   # relative to the target
        for _ in range(self.max_pulses):
            g = G_f[active]
            g_read = g * (1.0 + read_sigma * rng.standard_normal(g.size)) if read_sigma else g
            err = t_f[active] - g_read
            keep = np.abs(err) > np.maximum(self.tolerance - guard * t_f[active],
                                            0.25 * self.tolerance)
            active, err = active[keep], err[keep]
            if active.size == 0:
                break
            direction = np.where(err > 0, 1, -1).astype(np.int8)
            same = direction == d_f[active]
            run_now = np.where(same, r_f[active] + 1, 0)
            mean_step = np.minimum(self.step_initial * self.step_growth ** run_now, self.step_max)
            jitter = np.maximum(0.0, 1.0 + self.step_cv * rng.standard_normal(active.size))
            step = mean_step * resp_f[active] * jitter
            moved = ~stuck_f[active]
            G_f[active] = np.where(moved,
                                   np.clip(G_f[active] + direction * step, self.g_floor,
                                           self.g_ceiling),
                                   G_f[active])
            r_f[active] = run_now
            d_f[active] = direction
            p_f[active] += 1
        converged = np.abs(G - targets) <= self.tolerance
        return ProgramResult(G, pulses, converged)

    # ------------------------------------------------------------------ after programming
    @staticmethod
    def relaxation_sigma(G: ArrayLike, t: float) -> np.ndarray:
        """Standard deviation (S) of the relaxation spread of devices at conductance G, time t.

        The published fits at 1 s, 1 day and 2 days are evaluated at x = G / 40 uS (x clipped to
        [0, 1], the fitted range) and interpolated linearly in ln t between those times; before
        1 s the 1-s fit and after 2 days the 2-day fit hold.

        Parameters
        ----------
        G : array_like
            Conductance right after programming (S).
        t : float
            Time since programming (s), > 0.
        """
        t = check_range(t, "t", 0.0, None, lo_open=True, unit="second")
        x = np.clip(np.asarray(G, dtype=float) / _FIT_G_REF, 0.0, 1.0)
        times = np.array(sorted(RELAXATION_FITS))
        sig = np.stack([np.polynomial.polynomial.polyval(x, RELAXATION_FITS[tt]) for tt in times])
        lt = np.log(times)
        lnt = np.clip(np.log(t), lt[0], lt[-1])
        k = min(int(np.searchsorted(lt, lnt, side="right")) - 1, len(lt) - 2)
        w = (lnt - lt[k]) / (lt[k + 1] - lt[k])
        sigma = (1 - w) * sig[k] + w * sig[k + 1]
        return np.maximum(sigma, 0.0) * 1e-6

    def relax(self, G: ArrayLike, t: float, rng: np.random.Generator | None = None,
              z: ArrayLike | None = None, faults: np.ndarray | None = None) -> np.ndarray:
        """Conductances at time t after programming.

        Each device keeps its mean and spreads with standard deviation sigma(G, t) (the
        published fit). Because a conductance cannot go below ``g_floor``, the spread is drawn
        from a gamma distribution over G - g_floor with that mean and standard deviation (it tends
        to the normal distribution where sigma << G). The draw is the gamma quantile of
        Phi(z), z ~ N(0, 1) per device, so passing the same ``z`` for several times gives one
        consistent history per device. Returns G unchanged when relaxation is off.

        Parameters
        ----------
        G : array_like
            Conductances right after programming (S).
        t : float
            Time since programming (s).
        rng : numpy.random.Generator, optional
            Draws ``z`` when it is not given.
        z : array_like, optional
            Standard-normal variate per device.
        faults : ndarray of int8, optional
            Stuck cells keep their stuck value.
        """
        G = np.asarray(G, dtype=float)
        if not self.relaxation:
            return G.copy()
        if z is None:
            if rng is None:
                raise ValueError("relax needs rng or z")
            z = rng.standard_normal(G.shape)
        sigma = self.relaxation_sigma(G, t)
        mean = np.maximum(G - self.g_floor, 0.0)
        out = G.copy()
        spread = (sigma > 0) & (mean > 0)
        m, s = mean[spread], sigma[spread]
        shape_k = (m / s) ** 2
        u = np.clip(special.ndtr(np.broadcast_to(z, G.shape)[spread]), 1e-15, 1 - 1e-15)
        out[spread] = self.g_floor + (s * s / m) * special.gammaincinv(shape_k, u)
        out = np.minimum(out, self.g_ceiling)
        return self.apply_faults(out, faults)

    def drifted(self, G: ArrayLike, t: float, nu: ArrayLike,
                faults: np.ndarray | None = None) -> np.ndarray:
        """Systematic drift G (t / t0) ** -nu for t > t0 (per-device nu); unchanged when off."""
        G = np.asarray(G, dtype=float)
        t = check_range(t, "t", 0.0, None, lo_open=True, unit="second")
        if not self.drift or t <= self.drift_t0:
            return G.copy()
        out = np.clip(G * (t / self.drift_t0) ** (-np.asarray(nu)), self.g_floor, self.g_ceiling)
        return self.apply_faults(out, faults)

    def read(self, G: ArrayLike, rng: np.random.Generator,
             n_reads: int | None = None) -> np.ndarray:
        """Read conductances with fresh relative noise G (1 + read_noise_sigma N(0, 1)).

        With ``n_reads`` the result has an extra leading axis of that many independent reads.
        """
        G = np.asarray(G, dtype=float)
        shape = G.shape if n_reads is None else (n_reads,) + G.shape
        if not self.read_noise or self.read_noise_sigma == 0:
            return np.broadcast_to(G, shape).copy()
        return G * (1.0 + self.read_noise_sigma * rng.standard_normal(shape))
