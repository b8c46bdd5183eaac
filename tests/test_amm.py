"""AMM (SLNP-GAN Table 1) against a plain-Python float64 recurrence of the table, resume, AMP and config."""

from __future__ import annotations

import io
import math

import pytest
import torch

from methods.optim import build_optimizer
from methods.optim.amm import AMM, table1_optimizer

# A small non-quadratic objective with a gradient known in closed form, so the reference needs no autograd:
# f(theta) = sum_i a_i (theta_i - c_i)^2 + sin(theta_i); its gradient shrinks towards the optimum, which
# makes v_hat small enough that where delta sits (inside or outside the square root) changes the path.
A = [0.5, 1.0, 2.0, 0.1, 3.0]
C = [1.0, -2.0, 0.5, 3.0, -0.25]
THETA0 = [0.0, 0.5, -1.0, 2.0, 1.0]


def objective(theta: torch.Tensor) -> torch.Tensor:
    a = torch.tensor(A, dtype=theta.dtype)
    c = torch.tensor(C, dtype=theta.dtype)
    return (a * (theta - c) ** 2 + torch.sin(theta)).sum()


def table1_reference(steps: int, lr: float, betas: tuple[float, float], delta: float,
                     alpha: float) -> list[list[float]]:
    """Seed 002's Table 1 written out with Python floats: the parameters after each step."""
    b1, b2 = betas
    theta = list(THETA0)
    m = [0.0] * len(theta)
    v = [0.0] * len(theta)
    p_prev = [0.0] * len(theta)
    path = []
    for t in range(1, steps + 1):
        for i in range(len(theta)):
            g = 2 * A[i] * (theta[i] - C[i]) + math.cos(theta[i])
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            m_hat = m[i] / (1 - b1 ** t)
            v_hat = v[i] / (1 - b2 ** t)
            p_prev[i] = alpha * p_prev[i] + lr * m_hat / math.sqrt(v_hat + delta)
            theta[i] = theta[i] - p_prev[i]
        path.append(list(theta))
    return path


def run_amm(opt: AMM, theta: torch.Tensor, steps: int) -> list[list[float]]:
    path = []
    for _ in range(steps):
        opt.zero_grad()
        objective(theta).backward()
        opt.step()
        path.append(theta.detach().double().tolist())
    return path


@pytest.mark.parametrize("delta", [1e-8, 1e-2])
def test_matches_table1_recurrence_over_200_steps(delta):
    hp = dict(lr=0.05, betas=(0.9, 0.999), delta=delta, alpha=0.9)
    theta = torch.tensor(THETA0, dtype=torch.float64, requires_grad=True)
    got = run_amm(AMM([theta], **hp), theta, 200)
    want = table1_reference(200, **hp)
    assert torch.allclose(torch.tensor(got), torch.tensor(want), rtol=0, atol=1e-10)


def test_delta_inside_the_square_root_is_what_is_tested():
    # The reference with delta outside the root (torch Adam's eps convention) drifts away from AMM's path,
    # so the recurrence test above would catch the other placement.
    hp = dict(lr=0.05, betas=(0.9, 0.999), delta=1e-2, alpha=0.9)
    theta = torch.tensor(THETA0, dtype=torch.float64, requires_grad=True)
    got = torch.tensor(run_amm(AMM([theta], **hp), theta, 200))
    b1, b2 = hp["betas"]
    th = torch.tensor(THETA0, dtype=torch.float64, requires_grad=True)
    m = torch.zeros(5, dtype=torch.float64)
    v = torch.zeros(5, dtype=torch.float64)
    p = torch.zeros(5, dtype=torch.float64)
    for t in range(1, 201):
        (g,) = torch.autograd.grad(objective(th), th)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = hp["alpha"] * p + hp["lr"] * (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt() + hp["delta"])
        th = (th - p).detach().requires_grad_(True)
    assert (got[-1] - th.detach()).abs().max() > 1e-4


def test_first_step_is_lr_times_adam_direction():
    theta = torch.tensor(THETA0, dtype=torch.float64, requires_grad=True)
    opt = AMM([theta], lr=0.01, delta=1e-8)
    objective(theta).backward()
    g = theta.grad.clone()
    opt.step()
    # m_hat = g and v_hat = g^2 at t = 1, so P_1 = lr * g / sqrt(g^2 + delta).
    expected = torch.tensor(THETA0, dtype=torch.float64) - 0.01 * g / (g * g + 1e-8).sqrt()
    assert torch.allclose(theta.detach(), expected, rtol=0, atol=1e-15)


def table1_adam_reference(steps: int, lr: float, betas: tuple[float, float], delta: float) -> list[list[float]]:
    """Table 1's Adam column with Python floats: ``theta_t = theta_{t-1} - lr * m_hat / sqrt(v_hat + delta)``."""
    b1, b2 = betas
    theta = list(THETA0)
    m = [0.0] * len(theta)
    v = [0.0] * len(theta)
    path = []
    for t in range(1, steps + 1):
        for i in range(len(theta)):
            g = 2 * A[i] * (theta[i] - C[i]) + math.cos(theta[i])
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            theta[i] = theta[i] - lr * (m[i] / (1 - b1 ** t)) / math.sqrt(v[i] / (1 - b2 ** t) + delta)
        path.append(list(theta))
    return path


@pytest.mark.parametrize("delta", [1e-8, 1e-2])
def test_table1_adam_is_amm_with_alpha_zero_and_matches_the_adam_column(delta):
    cfg = dict(type="Adam", lr_G=0.05, betas=(0.9, 0.999), delta=delta, alpha=0.9)
    paths = []
    for opt_of in (lambda th: table1_optimizer([th], cfg, "G", kind="Adam"),
                   lambda th: AMM([th], lr=0.05, betas=(0.9, 0.999), delta=delta, alpha=0.0)):
        theta = torch.tensor(THETA0, dtype=torch.float64, requires_grad=True)
        opt = opt_of(theta)
        assert type(opt) is AMM and opt.param_groups[0]["alpha"] == 0.0
        paths.append(run_amm(opt, theta, 200))
    assert paths[0] == paths[1]                       # the same arithmetic, bit for bit
    want = table1_adam_reference(200, 0.05, (0.9, 0.999), delta)
    # float64 throughout; the gradient's rounding differs from the reference's (autograd vs the closed
    # form), a few ulps per step that the 200 steps cannot amplify beyond 1e-10.
    assert torch.allclose(torch.tensor(paths[0]), torch.tensor(want), rtol=0, atol=1e-10)
    # ... and AMM's momentum (alpha 0.9) takes another path.
    theta = torch.tensor(THETA0, dtype=torch.float64, requires_grad=True)
    amm_path = run_amm(table1_optimizer([theta], cfg, "G", kind="AMM"), theta, 200)
    assert (torch.tensor(amm_path[-1]) - torch.tensor(want[-1])).abs().max() > 1e-3


def test_table1_adam_first_step_is_not_torch_adams():
    """At |g| = 1e-5 and delta = 1e-8, Table 1's first step is lr * g / sqrt(g^2 + delta) ~ 0.0995 lr;
    torch.optim.Adam's is lr * g / (|g| + eps) ~ 0.999 lr: ten times larger."""
    steps = {}
    for name in ("table1", "torch"):
        p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
        opt = (table1_optimizer([p], dict(lr_G=1e-3, delta=1e-8), "G", kind="Adam") if name == "table1"
               else torch.optim.Adam([p], lr=1e-3, eps=1e-8))
        p.grad = torch.full_like(p, 1e-5)
        opt.step()
        steps[name] = -float(p.detach())
    assert steps["table1"] == pytest.approx(1e-3 * 1e-5 / math.sqrt(1e-10 + 1e-8), rel=1e-12)
    assert steps["torch"] / steps["table1"] == pytest.approx(10.04, abs=0.01)


@pytest.mark.parametrize("bad", [dict(kind="SGD"), dict(which="E")])
def test_table1_optimizer_refuses_unknown_type_or_missing_rate(bad):
    args = dict(kind="Adam", which="G") | bad
    with pytest.raises(ValueError, match="optimizer"):
        table1_optimizer([torch.nn.Parameter(torch.zeros(1))], dict(lr_G=1e-4), args["which"], kind=args["kind"])


def _serialised(state: dict) -> dict:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def test_state_dict_round_trip_resumes_identically():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    x, y = torch.randn(16, 4), torch.randn(16, 1)

    def train(model, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            opt.step()

    opt = AMM(net.parameters(), lr=1e-2)
    train(net, opt, 30)
    saved_net = _serialised(net.state_dict())
    saved_opt = _serialised(opt.state_dict())
    train(net, opt, 30)

    resumed = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    resumed.load_state_dict(saved_net)
    resumed_opt = AMM(resumed.parameters(), lr=1e-2)
    resumed_opt.load_state_dict(saved_opt)
    assert resumed_opt.state[next(resumed.parameters())]["step"] == 30
    train(resumed, resumed_opt, 30)
    for a, b in zip(net.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)

    # Without the momentum and moments the continuation differs: the round trip above is not vacuous.
    fresh = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    fresh.load_state_dict(saved_net)
    train(fresh, AMM(fresh.parameters(), lr=1e-2), 30)
    assert not all(torch.equal(a, b) for a, b in zip(net.parameters(), fresh.parameters(), strict=True))


def test_half_precision_params_keep_float32_state_through_a_round_trip():
    p = torch.nn.Parameter(torch.ones(8, dtype=torch.bfloat16))
    opt = AMM([p], lr=1e-3)
    p.grad = torch.full_like(p, 1e-3)
    opt.step()
    assert all(opt.state[p][k].dtype == torch.float32 for k in ("exp_avg", "exp_avg_sq", "momentum"))
    q = torch.nn.Parameter(p.detach().clone())
    opt2 = AMM([q], lr=1e-3)
    opt2.load_state_dict(_serialised(opt.state_dict()))
    assert opt2.state[q]["momentum"].dtype == torch.float32
    assert torch.equal(opt2.state[q]["momentum"], opt.state[p]["momentum"])


def test_grad_scaler_step_equals_unscaled_step():
    torch.manual_seed(0)
    w0 = torch.randn(6)
    target = torch.randn(6)
    results = []
    for scaled in (False, True):
        w = torch.nn.Parameter(w0.clone())
        opt = AMM([w], lr=1e-2)
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10) if scaled else None
        for _ in range(5):
            opt.zero_grad()
            loss = ((w - target) ** 2).sum()
            if scaler is None:
                loss.backward()
                opt.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
        results.append(w.detach())
    assert torch.allclose(results[0], results[1], rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind, cls", [("AMM", AMM), ("Adam", torch.optim.Adam)])
def test_build_optimizer_switches_on_config_type(kind, cls):
    net = torch.nn.Linear(3, 3)
    cfg = dict(type=kind, lr_G=1e-4, lr_D=4e-4, betas=(0.9, 0.999), alpha=0.8, delta=1e-7)
    opt = build_optimizer(net.parameters(), cfg, "D")
    assert type(opt) is cls
    assert opt.param_groups[0]["lr"] == 4e-4
    if cls is AMM:
        assert opt.param_groups[0]["alpha"] == 0.8 and opt.param_groups[0]["delta"] == 1e-7


@pytest.mark.parametrize("bad", [dict(lr=-1.0), dict(alpha=1.0), dict(delta=0.0), dict(betas=(1.0, 0.9))])
def test_rejects_invalid_hyperparameters(bad):
    with pytest.raises(ValueError):
        AMM([torch.nn.Parameter(torch.zeros(1))], **bad)
