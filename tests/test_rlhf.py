"""Reward models and PPO: comparison shards, the K-wise loss and GAE against hand computations,
where rewards are read under padding, KL ≥ 0 on sampled rollouts, a PPO run through the real CLI
whose reward rises on a toy reward, bitwise resume, and one-line errors."""

import json
import math

import numpy as np
import pytest
import torch
from conftest import REPO, assert_one_line_error, run_gptkit
from safetensors.torch import load_file
from test_chat_template import byte_tokenizer

from gptkit.chat.data import conversation_files
from gptkit.chat.sft import prepare_base
from gptkit.chat.template import get_template
from gptkit.model.gpt import GPT, GPTConfig
from gptkit.model.store import load_model, save_model
from gptkit.rlhf.ppo import PPOConfig, PPOObjective, gae, make_rollout, ppo
from gptkit.rlhf.prefs import PrefsConfig, prefs_data, ranked_pairs, record_comparisons
from gptkit.rlhf.reward import (
    RewardModel,
    kwise_loss,
    load_reward_model,
    read_comparisons,
    reward_head,
    score_replies,
    sequence_batch,
)
from gptkit.train.config import CheckpointSection, OptimSection, SampleSection, ScheduleSection, TrainConfig
from gptkit.train.objective import Setup, TrainModule

FIXTURES = REPO / "tests" / "data" / "chat"
HH = FIXTURES / "hh_helpful_base_6.jsonl"
OASST = FIXTURES / "oasst_en_3_trees.jsonl"


# -- data prefs -----------------------------------------------------------------------------


def test_prefs_from_hh_and_openassistant(tmp_path):
    summary = prefs_data(PrefsConfig(inputs=[HH, OASST], out=tmp_path / "p", val_fraction=0.3))
    assert summary.sources == {"hh-rlhf": 5, "openassistant": 4}
    assert summary.skipped == {"empty or non-string completion": 1}  # line 5: an empty chosen reply
    assert sum(summary.comparisons.values()) == 9 and summary.comparisons["val"] > 0
    again = prefs_data(PrefsConfig(inputs=[OASST, HH], out=tmp_path / "q", val_fraction=0.3))
    assert again.comparisons == summary.comparisons  # the split does not depend on input order
    assert prefs_data(PrefsConfig(inputs=[HH, OASST], out=tmp_path / "p", val_fraction=0.3)).reused


def test_hh_pair_and_oasst_ranking_become_comparisons():
    first = json.loads(HH.read_text().splitlines()[0])
    (c,) = record_comparisons(first, "x", PrefsConfig())
    assert c["prompt"][-1]["role"] == "user" and c["ranking"] == [0, 1]
    assert first["chosen"].endswith(c["completions"][0]) and first["rejected"].endswith(c["completions"][1])
    tree = json.loads(OASST.read_text().splitlines()[0])
    (k,) = list(record_comparisons(tree, "x", PrefsConfig()))
    assert k["ranking"] == [0, 1, 2] and k["completions"][0] == min(
        tree["prompt"]["replies"], key=lambda r: r["rank"] if r["rank"] is not None else 99)["text"]  # fmt: skip
    named = {"prompt": "Hi?", "completions": ["a", "b", "c"], "ranking": [1, 0, 1]}
    (n,) = record_comparisons(named, "x", PrefsConfig())
    assert n["prompt"] == [{"role": "user", "content": "Hi?"}] and ranked_pairs(n["ranking"]) == [(1, 0), (1, 2)]


def test_prefs_cli_and_errors(tmp_path):
    proc = run_gptkit("data", "prefs", HH, "--out", tmp_path / "p")
    assert proc.returncode == 0, proc.stderr
    assert "skipped: empty or non-string completion 1" in proc.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "chosen": "a", "rejected": "a"}\n{"text": "no"}\n')
    proc = run_gptkit("data", "prefs", bad, "--out", tmp_path / "b")
    assert proc.returncode == 0 and "bad.jsonl:2: unknown record" in proc.stderr
    assert_one_line_error(run_gptkit("data", "prefs", tmp_path / "missing.jsonl", "--out", tmp_path / "m"), "missing")


# -- reward model ---------------------------------------------------------------------------


def test_kwise_loss_matches_hand_computation():
    r = torch.tensor([2.0, 0.5, -1.0, 0.3, 0.7])  # a K=3 comparison, then a K=2 one whose winner is second
    loss, metrics = kwise_loss(r, [[0, 1, 2], [1, 0]])
    ls = lambda d: math.log(1 / (1 + math.exp(-d)))  # noqa: E731
    k3 = -(ls(2.0 - 0.5) + ls(2.0 + 1.0) + ls(0.5 + 1.0)) / 3
    k2 = -ls(0.7 - 0.3)
    assert loss.item() == pytest.approx((k3 + k2) / 2, rel=1e-6)
    assert metrics["accuracy"].item() == 1.0
    assert metrics["margin"].item() == pytest.approx((1.5 + 3.0 + 1.5 + 0.4) / 4, rel=1e-6)
    tied, _ = kwise_loss(torch.tensor([1.0, 0.0, 5.0]), [[0, 1, 1]])  # equal ranks make no pair
    assert tied.item() == pytest.approx(-(ls(1.0) + ls(-4.0)) / 2, rel=1e-6)


def test_reward_is_read_at_the_last_token_whatever_the_padding():
    torch.manual_seed(0)
    tok = byte_tokenizer()
    gpt = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=16, block_size=64, vocab_size=tok.vocab_size)).eval()
    rm = RewardModel(gpt, reward_head(16), pad_id=tok.eot_id).eval()
    eos = tok.eot_id
    seqs = [[eos, *tok.encode("short"), eos], [eos, *tok.encode("a much longer reply"), eos], [eos, 7, eos, eos]]
    with torch.no_grad():
        alone = torch.cat([rm([s]) for s in seqs])
        right, left = rm(seqs, "right"), rm(seqs, "left")
        in_a_bigger_batch = rm(seqs * 3)[:3]
    assert torch.allclose(right, alone, atol=1e-5) and torch.allclose(left, alone, atol=1e-5)
    assert torch.allclose(in_a_bigger_batch, alone, atol=1e-5)  # rewards do not change with batch size
    _, _, last = sequence_batch(seqs, eos, "right")
    assert last.tolist() == [len(s) - 1 for s in seqs]  # from lengths, although pad = eos ends each sequence
    assert alone[2] != rm([[eos, 7, eos]]).detach()[0]  # the trailing eos counts: a different sequence


# -- PPO ------------------------------------------------------------------------------------


def test_gae_matches_hand_computation():
    rewards = torch.tensor([[0.1, 0.2, 1.0], [0.5, 9.0, 9.0]])
    values = torch.tensor([[0.3, 0.4, 0.5], [0.2, 9.0, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])  # the second reply has one token
    g, lam = 0.9, 0.8
    d2 = 1.0 - 0.5
    d1 = 0.2 + g * 0.5 - 0.4
    d0 = 0.1 + g * 0.4 - 0.3
    a2, a1 = d2, d1 + g * lam * d2
    a0 = d0 + g * lam * a1
    adv, ret = gae(rewards, values, mask, g, lam)
    assert adv[0].tolist() == pytest.approx([a0, a1, a2], rel=1e-6)
    assert adv[1].tolist() == pytest.approx([0.5 - 0.2, 0, 0], rel=1e-6)
    assert ret[0].tolist() == pytest.approx([a0 + 0.3, a1 + 0.4, a2 + 0.5], rel=1e-6)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Comparison shards from the fixtures and a tiny byte-level chatml model standing in for an SFT run."""
    root = tmp_path_factory.mktemp("rlhf")
    prefs_data(PrefsConfig(inputs=[HH, OASST], out=root / "prefs", val_fraction=0.3))
    torch.manual_seed(0)
    save_model(root / "model", GPT(GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=128, vocab_size=257)),
               byte_tokenizer())  # fmt: skip
    prepare_base(root / "model", get_template("chatml"), root / "sft")
    return root


def _train_cfg(out, **kw):
    base = dict(out=out, steps=8, micro_batch=4, log_interval=1, device="cpu", threads=1,
                optim=OptimSection(lr=1e-2), schedule=ScheduleSection(warmup_steps=0),
                samples=SampleSection(prompts=[]), checkpoint=CheckpointSection(interval=3, keep_last=5))  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)


def _ppo_cfg(setup, **kw):
    return PPOConfig(model=setup / "sft", reward="regex:[a-z]", prompts=setup / "prefs", rollout_size=8,
                     ppo_epochs=2, max_tokens=16, **kw)  # fmt: skip


def test_kl_is_nonnegative_per_token_on_sampled_rollouts(setup, tmp_path):
    ppo(_ppo_cfg(setup), _train_cfg(tmp_path / "run", steps=4))  # one rollout, then two PPO epochs moved the policy
    objective = PPOObjective(_ppo_cfg(setup, temperature=1.3), setup / "sft", tmp_path / "x")
    objective.data()
    policy, _ = load_model(tmp_path / "run")
    objective.bind(Setup(policy.config, 128, 4, 1, 0, 1, 0, torch.device("cpu")))
    objective.attach(TrainModule(policy, objective.heads(), objective))
    rows, stats = make_rollout(objective, 0, kl_coef=0.1)
    kl = [k for r in rows for k in r["kl_tokens"]]
    assert len(kl) == sum(len(r["ids"]) - r["prompt_len"] for r in rows) and min(kl) >= 0
    assert stats["rollout_kl"] > 0  # the trained policy moved away from the reference


def _metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow  # ~7 s of CPU, up to 30 s on a busy machine
def test_ppo_cli_raises_a_toy_reward(setup, tmp_path):
    run = tmp_path / "ppo"
    proc = run_gptkit("ppo", setup / "sft", "--reward", "regex:[a-z]", "--prompts", setup / "prefs", "--out", run,
                      "--set", "ppo.rollout_size=8", "--set", "ppo.ppo_epochs=2", "--set", "ppo.max_tokens=16",
                      "--set", "train.steps=40", "--set", "train.micro_batch=4", "--set", "train.device=cpu",
                      "--set", "train.threads=1", "--set", "train.optim.lr=1e-2", "--set", "train.log_interval=1",
                      "--set", "train.schedule.warmup_steps=0", "--set", "train.samples.prompts=[]")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "done: step 40/40" in proc.stdout
    rewards = [m["rollout_reward"] for m in _metrics(run)][::4]  # one rollout per 4 steps
    assert sum(rewards[-3:]) > 2 * sum(rewards[:3])
    m = _metrics(run)[0]
    assert {"rollout_kl", "entropy", "clip_fraction", "value_loss", "rollout_response_length"} <= m.keys()
    assert m["rollout_kl"] == pytest.approx(0, abs=1e-6) and m["clip_fraction"] == 0  # policy = reference at first
    samples = [json.loads(line) for line in (run / "rollouts.jsonl").read_text().splitlines()]
    assert {s["rollout"] for s in samples} == set(range(10))
    proc = run_gptkit("rm", "policy", "regex:[a-z]", run, "--sft", setup / "sft", "--prompts", setup / "prefs",
                      "--split", "train", "--max-tokens", "16", "--out", tmp_path / "judged.json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    judged = json.loads((tmp_path / "judged.json").read_text())
    assert judged["mean_reward"] > judged["sft_mean_reward"] and judged["win_rate_vs_sft"] > 0.5
    assert judged["mean_kl"] > 0 and judged["sft_mean_response_length"] > 0
    evaluate = ["eval", run, "--reward", "regex:[a-z]", "--prompts", setup / "prefs", "--sft", setup / "sft", "--seed", "0",
                "--set", "eval.reward.split=train", "--set", "eval.reward.max_tokens=16"]  # fmt: skip
    proc = run_gptkit(*evaluate)
    assert proc.returncode == 0, proc.stderr
    scored = json.loads((run / "eval" / "reward" / "results.json").read_text())["results"]["reward"]
    assert {k: scored[f"{k},none"] for k in judged if k != "prompts"} == {k: v for k, v in judged.items() if k != "prompts"}
    assert "win_rate_vs_sft" in proc.stdout
    assert "already complete" in run_gptkit(*evaluate).stderr
    assert_one_line_error(run_gptkit("eval", run, "--reward", "regex:a", "--sft", setup / "sft"), "--prompts")
    assert_one_line_error(run_gptkit(*evaluate, "--tasks", "lambada"), "--reward", "--tasks")


def _weights(run):
    ckpt = run / "checkpoints" / (run / "latest").read_text().strip()
    return {**load_file(str(ckpt / "model.safetensors")), **load_file(str(ckpt / "heads.safetensors"))}


def test_ppo_resume_is_bitwise_mid_rollout(setup, tmp_path):
    cfg = _ppo_cfg(setup, kl_target=1.0)
    ppo(cfg, _train_cfg(tmp_path / "whole"))
    ppo(cfg, _train_cfg(tmp_path / "split", stop_after=3))  # rollouts span 4 steps: stops inside one
    assert ppo(cfg, _train_cfg(tmp_path / "split")).resumed_from == 3
    a, b = _weights(tmp_path / "whole"), _weights(tmp_path / "split")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    drop = ("tokens_per_s", "mfu")
    whole = [{k: v for k, v in m.items() if k not in drop} for m in _metrics(tmp_path / "whole")]
    split = [{k: v for k, v in m.items() if k not in drop} for m in _metrics(tmp_path / "split")]
    assert whole == split
    assert whole[-1]["rollout_kl_coef"] != 0.05  # the adaptive β moved, and was restored on resume
    sft = load_file(str(setup / "sft" / "model.safetensors"))
    body = "transformer.h.0.attn.c_attn.weight"
    assert not torch.equal(a[f"value.gpt.{body}"], sft[body])  # the value model (a copy of SFT here) trains
    assert a["value.head.weight"].abs().sum() > 0


@pytest.mark.slow  # five CLI processes
def test_rm_cli_train_eval_score(setup, tmp_path):
    run = tmp_path / "rm"
    train = ("rm", "train", setup / "sft", "--data", setup / "prefs", "--out", run,
             "--set", "train.steps=6", "--set", "train.micro_batch=2", "--set", "train.device=cpu",
             "--set", "train.threads=1", "--set", "train.optim.lr=1e-3", "--set", "train.eval_interval=3",
             "--set", "train.samples.prompts=[]", "--set", "train.schedule.warmup_steps=0")  # fmt: skip
    proc = run_gptkit(*train)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((run / "checkpoints" / "step_00000006" / "state.json").read_text())["objective"] == "reward"
    rm, tok, template = load_reward_model(run)
    best = [(c["prompt"], c["completions"][0]) for c in read_comparisons(conversation_files(setup / "prefs", "train"), None)]
    assert np.mean(score_replies(rm, tok, template, best)) == pytest.approx(0, abs=1e-4)  # demonstrations average 0
    shift = json.loads((run / "reward.json").read_text())
    assert run_gptkit(*train).returncode == 0  # the finished run is reused, its shift kept
    (run / "reward.json").unlink()  # as if killed between the run's end and the shift: a rerun writes it
    proc = run_gptkit(*train)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((run / "reward.json").read_text()) == shift
    proc = run_gptkit("rm", "eval", run, "--data", setup / "prefs", "--split", "train", "--out", tmp_path / "e.json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "e.json").read_text())
    assert result["pairs"] == 13 and set(result["accuracy_by_k"]) == {"2", "3"}
    assert 0 <= result["length_baseline_accuracy"] <= 1 and result["accuracy"] > 0.5  # it learnt the pairs it saw
    answers = tmp_path / "a.jsonl"
    answers.write_text('{"prompt": "Hi", "completion": "Hello!"}\n'
                       '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}\n')
    proc = run_gptkit("rm", "score", run, answers)
    assert proc.returncode == 0, proc.stderr
    scored = [json.loads(line) for line in proc.stdout.splitlines()]
    assert scored[0]["reward"] == pytest.approx(scored[1]["reward"], abs=1e-5)  # same conversation, same reward
    answers.write_text('{"prompt": "Hi"}\n')
    assert_one_line_error(run_gptkit("rm", "score", run, answers), "a.jsonl:1")
    assert_one_line_error(run_gptkit("rm", "eval", setup / "sft", "--data", setup / "prefs"), "not a reward model")


def test_kl_penalty_holds_the_policy_near_the_reference(setup, tmp_path):
    """β > 0 keeps the policy closer to the SFT model than β = 0 (same seeds, toy reward). The exact
    per-token KL in the reward does not depend on the sampled token, so the loss needs its gradient
    as a term of its own: without it β only steers which prefixes are visited and barely holds the KL."""
    kls = {}
    for beta in (0.0, 1.0):
        run = tmp_path / f"beta{beta}"
        ppo(_ppo_cfg(setup, kl_coef=beta), _train_cfg(run, steps=24))
        kls[beta] = np.mean([m["rollout_kl"] for m in _metrics(run)][-8:])  # the last two rollouts
    assert kls[1.0] < 0.5 * kls[0.0], kls
