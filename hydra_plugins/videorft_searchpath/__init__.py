"""Hydra search-path plugin: makes ``+recipe=videorft`` resolve for verl's ``main_ppo``.

verl 0.9.1 has no ``recipe`` config group. Hydra scans the ``hydra_plugins`` namespace package
for plugins, so this class appends the project's config folder (``recipes/``, shipped as
``verl_videorft.recipes``) to every Hydra app's search path; ``recipe/<name>.yaml`` there then
becomes the group option ``+recipe=<name>``.
"""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

SEARCH_PATH = "pkg://verl_videorft.recipes"


class VideoRFTSearchPathPlugin(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        search_path.append(provider="verl-videorft", path=SEARCH_PATH)
