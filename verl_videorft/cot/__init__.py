"""Multi-expert CoT data construction (the paper's VideoRFT-CoT pipeline; ``videorft cot build``).

Per record: ``describe`` (a VLM writes a structured JSON description of the clip at 1 fps),
``reason`` (a text-only LLM writes a five-part cognitive chain of thought from the description and
the question), ``revise`` (a VLM corrects the chain against the frames), ``filter`` (the project's
accuracy and semantic rewards and a length check decide what is kept). Output: one JSONL per stage,
``cot.jsonl`` (SFT records with ``process``) and ``stats.json``.

- :mod:`.prompts`   the prompts (versioned); :mod:`.schema` the description schema and chain parsing
- :mod:`.settings`  settings and engine specs; :mod:`.engines` (+ ``hf_engine``, ``vllm_engine``,
  ``http_engine``) the three engines
- :mod:`.frames`    frames at ``fps`` through the project's sampler, decoded once per video
- :mod:`.stages`, :mod:`.filtering`  the stages; :mod:`.runner`, :mod:`.ray_runner` the execution
- :mod:`.store`, :mod:`.stats`  stage files, stats and the summary table

Nothing heavy is imported here.
"""
