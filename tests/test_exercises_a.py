"""Session A's exercise checks: a right answer gets ✓, each typical wrong answer its own explanation, an unfilled
answer the reference, and reference mode checks the reference."""

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from helpers import dpo_math as dm
from helpers.exercises import session_a as ex_a


def blank(*args):
    ...


# ----------------------------------------------------------------------------- the DPO loss


def right_loss(pc, pr, rc, rr, beta):
    return -F.logsigmoid(beta * ((pc - rc) - (pr - rr)))


WRONG_LOSSES = {
    "sign flipped": (lambda pc, pr, rc, rr, b: -F.logsigmoid(-b * ((pc - rc) - (pr - rr))),
                     "the loss should fall as the chosen answer gets likelier"),
    "no minus": (lambda pc, pr, rc, rr, b: F.logsigmoid(b * ((pc - rc) - (pr - rr))), "minus sign is missing"),
    "no beta": (lambda pc, pr, rc, rr, b: -F.logsigmoid((pc - rc) - (pr - rr)), "beta is missing"),
    "divided by beta": (lambda pc, pr, rc, rr, b: -F.logsigmoid(((pc - rc) - (pr - rr)) / b), "divided by beta"),
    "chosen only": (lambda pc, pr, rc, rr, b: -F.logsigmoid(b * (pc - rc)), "chosen answer only"),
    "no reference": (lambda pc, pr, rc, rr, b: -F.logsigmoid(b * (pc - pr)), "the reference is missing"),
    "sigma": (lambda pc, pr, rc, rr, b: torch.sigmoid(b * ((pc - rc) - (pr - rr))), "its negative log"),
    "mean": (lambda pc, pr, rc, rr, b: right_loss(pc, pr, rc, rr, b).mean(), "the mean over the pairs"),
    "tuple": (lambda pc, pr, rc, rr, b: dm.dpo_loss(pc, pr, rc, rr, b), "returned a tuple"),
    "detached": (lambda pc, pr, rc, rr, b: right_loss(pc, pr, rc, rr, b).detach(), "not connected"),
    "references swapped": (lambda pc, pr, rc, rr, b: -F.logsigmoid(b * ((pc - rr) - (pr - rc))), "not ln 2"),
    "twice the margin": (lambda pc, pr, rc, rr, b: right_loss(pc, pr, rc, rr, 2 * b), "differ from the DPO loss"),
    "raises": (lambda pc, pr, rc, rr, b: pc.no_such_method(), "raised AttributeError"),
}


def test_a_right_loss_passes_and_is_used(capsys):
    fn, verdict = ex_a.loss_exercise(right_loss)
    assert verdict.ok and fn is right_loss
    out = capsys.readouterr().out
    assert out.startswith("✓ the DPO loss: matches dm.dpo_loss") and "sigma(-margin)" in out


@pytest.mark.parametrize("mistake", list(WRONG_LOSSES))
def test_each_wrong_loss_gets_its_explanation(mistake, capsys):
    fn, explanation = WRONG_LOSSES[mistake]
    used, verdict = ex_a.loss_exercise(fn)
    assert verdict.ok is False and explanation in verdict.message, verdict.message
    assert used is ex_a.reference_dpo_loss  # the notebook goes on with the reference
    assert capsys.readouterr().out.startswith("✗ the DPO loss:")


def test_an_unfilled_loss_goes_on_with_the_reference(capsys):
    used, verdict = ex_a.loss_exercise(blank)
    assert verdict.ok is None and used is ex_a.reference_dpo_loss
    assert "not filled in yet" in capsys.readouterr().out
    assert ex_a.loss_exercise(...)[1].ok is None


def test_reference_mode_checks_the_reference(capsys):
    used, verdict = ex_a.loss_exercise(blank, mode="reference")
    assert verdict.ok and used is ex_a.reference_dpo_loss
    assert "(reference answer)" in capsys.readouterr().out


# ----------------------------------------------------------------------------- the closed form


def test_closed_form_right_and_wrong(capsys):
    def right_star(ref, r, beta):
        return torch.log_softmax(ref + r / beta, -1)

    assert ex_a.closed_form_exercise(right_star)[1].ok
    wrongs = {
        "normaliser": lambda ref, r, beta: ref + r / beta,
        "multiplied the reward by beta": lambda ref, r, beta: torch.log_softmax(ref + r * beta, -1),
        "normalised over the prompts": lambda ref, r, beta: torch.log_softmax(ref + r / beta, 0),
        "pi_ref is missing": lambda ref, r, beta: torch.log_softmax(r / beta, -1),
        "returned probabilities": lambda ref, r, beta: torch.softmax(ref + r / beta, -1),
        "shape": lambda ref, r, beta: torch.log_softmax(ref + r / beta, -1).sum(-1),
    }
    for explanation, fn in wrongs.items():
        used, verdict = ex_a.closed_form_exercise(fn)
        assert verdict.ok is False and explanation in verdict.message, (explanation, verdict.message)
        assert used is ex_a.reference_optimal_policy
    assert ex_a.closed_form_exercise(blank)[1].ok is None
    assert ex_a.closed_form_exercise(blank, mode="reference")[1].ok


# ----------------------------------------------------------------------------- what preferences identify


def test_identified_up_to_a_constant_per_prompt(capsys):
    toy = dm.make_toy(3, 5, seed=0)
    changes = ex_a.invariance_changes(toy, 0.5)
    assert changes["a"] < 1e-12 and changes["b"] < 1e-12 and changes["c"] > 0.01 and changes["d"] > 0.01
    assert ex_a.identified_exercise("b", toy, 0.5)[1].ok
    assert ex_a.identified_exercise(" B ", toy, 0.5)[1].ok
    assert "not the whole freedom" in ex_a.identified_exercise("a", toy, 0.5)[1].message
    assert "changes the difference between two answers" in ex_a.identified_exercise("c", toy, 0.5)[1].message
    assert "not scale-free" in ex_a.identified_exercise("d", toy, 0.5)[1].message
    assert "the one largest freedom" in ex_a.identified_exercise("a, b", toy, 0.5)[1].message
    assert "not one of the choices" in ex_a.identified_exercise("e", toy, 0.5)[1].message
    assert ex_a.identified_exercise(..., toy, 0.5)[1].ok is None


# ----------------------------------------------------------------------------- the beta sweep prediction


def test_kl_prediction_reads_the_learners_sweep(capsys):
    sweep = pd.DataFrame({"beta": [0.03, 0.3, 10.0], "KL(pi||pi_ref)": [1.9, 0.7, 0.01]})
    used, verdict = ex_a.kl_prediction_exercise("a", sweep)
    assert verdict.ok and used == "a" and "1.9 nats at beta = 0.03" in verdict.message
    assert "price of each nat" in ex_a.kl_prediction_exercise("b", sweep)[1].message
    assert "flattens the tilt" in ex_a.kl_prediction_exercise("c", sweep)[1].message
    assert "not one of the choices" in ex_a.kl_prediction_exercise(3, sweep)[1].message
    assert ex_a.kl_prediction_exercise(..., sweep)[1].ok is None
    assert ex_a.kl_prediction_exercise(..., sweep, mode="reference")[1].ok
