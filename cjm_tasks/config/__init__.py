"""The configuration: YAML files validated into typed models.

The main file (``configs/cjm.yaml`` by default, or ``--config`` / ``CJM_CONFIG``) names the other
files (stages, personas, barriers, expectations) under ``files:``. Every file is validated on load;
an error names the file, the key path and what was expected, e.g.::

    configs/personas.yaml: personas[2].rule.all[0].op: 'equals' is not one of eq, ne, in, ...

Relative paths resolve against the folder of the file that holds them; ``${VAR}`` and
``${VAR:-default}`` read the environment.

The models of each file: ``main`` (cjm.yaml), ``sources`` (a source's format and reading, and
expectations.yaml), ``journey`` (stages.yaml, personas.yaml), ``catalog`` (barriers.yaml), what they
share in ``common``; ``model`` holds :class:`CjmConfig`, the whole; ``loading`` reads the files and
words the errors; ``references`` checks what one file names against what another declares.
"""

from cjm_tasks.config.catalog import BarriersFile, CatalogBarrier, MatchingConfig
from cjm_tasks.config.common import localize
from cjm_tasks.config.journey import AllRule, AnyRule, Condition, NotRule, PersonasFile
from cjm_tasks.config.loading import CONFIG_ENV, DEFAULT_CONFIG, config_path, load_config
from cjm_tasks.config.main import BUILT_IN_BETTER, DiffConfig, MainFile, S3Config, StorageConfig
from cjm_tasks.config.model import CjmConfig
from cjm_tasks.config.references import reference_problems
from cjm_tasks.config.sources import SourceConfig, SourceExpectations

__all__ = [
    "BUILT_IN_BETTER",
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "AllRule",
    "AnyRule",
    "BarriersFile",
    "CatalogBarrier",
    "CjmConfig",
    "Condition",
    "DiffConfig",
    "MainFile",
    "MatchingConfig",
    "NotRule",
    "PersonasFile",
    "S3Config",
    "SourceConfig",
    "SourceExpectations",
    "StorageConfig",
    "config_path",
    "load_config",
    "localize",
    "reference_problems",
]
