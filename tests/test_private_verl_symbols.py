"""Every private verl symbol the project relies on, pinned: when verl moves one, a test names it.

The table is ARCHITECTURE.md's "Private verl symbols" table (same rows). A row is ``(symbol, what
we rely on, params)``: the dotted path must resolve in the installed verl; ``params``, when given,
are the leading parameter names we call or override with. Instance attributes (set in
``__init__``) are checked in the class source. The last test scans the package and the tests for
private names that verl also defines, so a new use cannot slip in without a row here.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

pytest.importorskip("verl")

REPO = Path(__file__).resolve().parents[1]

# (dotted symbol in verl, used by, leading parameter names or None)
SYMBOLS = [
    ("verl.experimental.agent_loop.agent_loop._agent_loop_registry", "plugin.py, doctor", None),
    ("verl.workers.rollout.base._ROLLOUT_REGISTRY", "plugin.py, doctor", None),
    ("verl.workers.engine.base.EngineRegistry._engines", "plugin.py, doctor", None),
    ("verl.workers.rollout.replica.RolloutReplicaRegistry._registry", "doctor", None),
    ("verl.workers.rollout.replica.RolloutReplica._server_handle", "rollout/hf_server.py", "attribute"),
    ("verl.workers.rollout.replica.RolloutReplica._server_address", "rollout/hf_server.py", "attribute"),
    ("verl.experimental.agent_loop.agent_loop.AgentLoopBase._get_mm_processor_kwargs", "rollout/agent_loop.py",
     ["self", "audio_data"]),
    ("verl.experimental.agent_loop.agent_loop.AgentLoopWorker._compute_position_ids", "rollout/time_axis.py",
     ["self", "input_ids", "attention_mask", "multi_modal_inputs", "mm_processor_kwargs"]),
    ("verl.experimental.agent_loop.agent_loop.AgentLoopWorker._agent_loop_postprocess", "tests/vllm_contract.py",
     ["self", "output", "validate"]),
    ("verl.utils.dataset.rl_dataset.RLHFDataset._read_files_and_tokenize", "data/dataset.py", ["self"]),
    ("verl.utils.dataset.rl_dataset.RLHFDataset._process_multi_modal_info", "data/dataset.py, tests/test_data.py",
     ["messages", "image_patch_size", "config"]),
    ("verl.utils.dataset.rl_dataset.RLHFDataset._extract_audio_info", "data/dataset.py", ["messages"]),
    ("verl.utils.dataset.multiturn_sft_dataset.MultiTurnSFTDataset._build_messages", "data/sft.py",
     ["self", "example"]),
    ("verl.workers.engine.fsdp.transformer_impl.FSDPEngine._build_fsdp_module", "cpu/engines.py",
     ["self", "module"]),
    ("verl.trainer.ppo.v1.trainer_sync.PPOTrainerSync._build_replay_buffer", "trainer.py", ["self"]),
    ("verl.trainer.ppo.v1.trainer_sync.PPOTrainerSync._compute_advantage", "trainer.py",
     ["self", "batch", "metrics"]),
    ("verl.trainer.ppo.v1.trainer_sync.PPOTrainerSync._compute_metrics", "trainer.py",
     ["self", "batch", "metrics", "timing_raw", "global_steps", "epoch"]),
    ("verl.plugin.platform.platform_manager._detect_platform_name", "tests/test_rollout_cpu_platform.py", []),
    ("verl.models.transformers.qwen2_vl._get_input_embeds", "upstream.py (wrapped), tests/test_upstream.py", None),
    ("verl.models.transformers.qwen3_vl._get_input_embeds", "upstream.py (wrapped), tests/test_upstream.py", None),
]
# Behaviour behind a private symbol, pinned by its source: (symbol, text that must appear in it)
READS = [
    # rollout/time_axis.py: verl's training forward asks the processor for extra RoPE inputs
    ("verl.experimental.agent_loop.agent_loop.AgentLoopWorker._compute_position_ids", "get_rope_index_kwargs"),
    ("verl.experimental.agent_loop.agent_loop.AgentLoopWorker._compute_position_ids", "self.processor.get_rope_index("),
]
# private names of torch that verl happens to use too: not verl symbols
OWN = {"_ragged_idx"}


def resolve(dotted: str):
    """Import the longest module prefix of ``dotted``, then walk the attributes; raise naming the symbol."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for i, name in enumerate(parts[cut:], start=cut):
            if not hasattr(obj, name):
                raise AssertionError(f"verl moved {dotted}: {'.'.join(parts[:i])} has no {name!r}")
            obj = getattr(obj, name)
        return obj
    raise AssertionError(f"verl moved {dotted}: no module of it imports")


@pytest.mark.parametrize(("symbol", "used_by", "params"), SYMBOLS, ids=[s[0].rsplit(".", 2)[-2] + "." +
                                                                       s[0].rsplit(".", 1)[-1] for s in SYMBOLS])
def test_private_symbol_still_there(symbol, used_by, params):
    if params == "attribute":
        owner, attr = symbol.rsplit(".", 1)
        assert f"self.{attr}" in inspect.getsource(resolve(owner)), f"verl moved {symbol} (used by {used_by})"
        return
    obj = resolve(symbol)
    if params is not None:
        names = list(inspect.signature(obj).parameters)[:len(params)]
        assert names == params, f"verl changed {symbol}{tuple(names)}; {used_by} relies on {tuple(params)}"


@pytest.mark.parametrize(("symbol", "text"), READS)
def test_private_behaviour_still_there(symbol, text):
    assert text in inspect.getsource(resolve(symbol)), f"verl's {symbol} no longer does {text!r}"


def _verl_private_names() -> set[str]:
    """Private names verl defines or assigns anywhere (a superset: methods, attributes, globals)."""
    root = Path(importlib.import_module("verl").__file__).parent
    src = "\n".join(p.read_text(errors="ignore") for p in root.rglob("*.py"))
    return set(re.findall(r"(?:def |class |\.|^\s*)(_[A-Za-z]\w*)\b\s*[(:=]", src, re.M))


IN_VERL = _verl_private_names()


def _is_private(name: str | None) -> bool:
    return bool(name) and name.startswith("_") and not name.startswith("__")


def _verl_bases(tree: ast.Module) -> dict[str, str]:
    """Names imported from verl in a module: ``{local name: "module.attr"}``."""
    return {a.asname or a.name: f"{node.module}.{a.name}" for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("verl.") for a in node.names}


def _uses(path: Path) -> tuple[set[str], set[str], set[str]]:
    """``(private attributes read, private names defined here, private overrides of verl classes)``."""
    tree = ast.parse(path.read_text())
    imported = _verl_bases(tree)
    read, defined, overrides = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            through_super = isinstance(node.value, ast.Call) and getattr(node.value.func, "id", None) == "super"
            if through_super and node.attr in IN_VERL:  # a verl method extended here (also via a mixin)
                overrides.add(node.attr)
            (defined if isinstance(node.ctx, ast.Store) and getattr(node.value, "id", None) == "self"
             else read).add(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and _is_private(node.name):
            defined.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and _is_private(node.id):
            defined.add(node.id)
        if isinstance(node, ast.ClassDef):
            bases = [resolve(imported[b.id]) for b in node.bases if isinstance(b, ast.Name) and b.id in imported]
            overrides |= {f.name for f in node.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                          and _is_private(f.name) and any(hasattr(b, f.name) for b in bases)}
    return read, defined, overrides


def test_every_private_verl_name_in_use_is_in_the_table():
    """Private names read from something not defined here (a verl module, class or object) and
    private methods of verl classes overridden here must all be rows of the table."""
    ours = list((REPO / "verl_videorft").rglob("*.py")) + [p for p in (REPO / "tests").glob("*.py")
                                                            if p.name != Path(__file__).name]
    read, defined, overrides, where = set(), set(), set(), {}
    for path in ours:
        r, d, o = _uses(path)
        read |= r
        defined |= d
        overrides |= o
        for name in r | o:
            where.setdefault(name, set()).add(str(path.relative_to(REPO)))
    pinned = {s[0].rsplit(".", 1)[-1] for s in SYMBOLS} | OWN
    used = ((read - defined) & IN_VERL) | overrides
    missing = {name: sorted(where[name]) for name in used - pinned}
    assert not missing, f"private verl names used but not pinned (add a row here and in ARCHITECTURE.md): {missing}"
