"""One module per reward, each a verl ``compute_score``, importable after ``pip install``:

    reward.custom_reward_function.path=pkg://verl_videorft.reward_plugins.format        # or accuracy,
    reward.custom_reward_function.name=compute_score                                   # semantic, videorft_rule

verl's loader (``verl.utils.import_utils.load_module``) imports a ``pkg://`` path as a module, so the
same name works in the driver and in every Ray worker, whatever their working directory. The
top-level ``reward_plugins/*.py`` of the repository are the same functions as files to copy and edit.
"""
