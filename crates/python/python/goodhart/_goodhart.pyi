"""Type stubs of the native module (the public API is in ``goodhart``)."""

from typing import Any, List, Optional, Tuple

__version__: str

class ArrowStream:
    """A finished table; export it with ``__arrow_c_stream__`` (no copy)."""

    @property
    def num_rows(self) -> int: ...
    def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object: ...

class RawResult:
    def users(self) -> ArrowStream: ...
    def sessions(self) -> ArrowStream: ...
    def quarantine(self) -> Optional[ArrowStream]: ...
    def alerts_json(self) -> str: ...
    def summary_json(self) -> str: ...
    def ingest_json(self) -> Optional[str]: ...
    def explain_json(self, user_id: str) -> Optional[str]: ...

class RawFeatures:
    def users(self) -> ArrowStream: ...
    def sessions(self) -> ArrowStream: ...
    def quarantine(self) -> ArrowStream: ...
    def ingest_json(self) -> str: ...
    def duplicate_events(self) -> int: ...

def scan(
    events: Any,
    roster: Any = None,
    as_of: Optional[str] = None,
    window: Optional[str] = None,
    config: Optional[str] = None,
    source: Optional[str] = None,
) -> RawResult: ...
def features(
    events: Any,
    roster: Any = None,
    as_of: Optional[str] = None,
    window: Optional[str] = None,
    config: Optional[str] = None,
    source: Optional[str] = None,
) -> RawFeatures: ...
def score(
    user_features: Any,
    session_features: Any,
    as_of: Optional[str] = None,
    window: Optional[str] = None,
    config: Optional[str] = None,
) -> RawResult: ...
def validate(
    path: str,
    as_of: Optional[str] = None,
    window: Optional[str] = None,
    quarantine: Optional[str] = None,
) -> str: ...
def synth(
    out: str,
    users: int = 300,
    days: int = 14,
    seed: int = 1,
    gaming_share: float = 0.06,
    intensity: float = 1.0,
    start: Optional[str] = None,
) -> str: ...

# Spark phases (used by goodhart.spark; see its module doc).
def resolve_window_args(
    as_of: Optional[str] = None,
    window: Optional[str] = None,
    config_toml: Optional[str] = None,
    config_name: str = "built-in configuration",
) -> Tuple[str, int]: ...
def part_task_users(
    events: Any,
    as_of: str,
    window: str,
    config_toml: Optional[str] = None,
    config_name: str = "built-in configuration",
    source: Optional[str] = None,
) -> ArrowStream: ...
def common_prompt_threshold(
    n_users: int,
    as_of: str,
    window: str,
    config_toml: Optional[str] = None,
    config_name: str = "built-in configuration",
) -> int: ...
def part_features(
    events: Any,
    common_tasks: List[int],
    threshold: int,
    as_of: str,
    window: str,
    roster: Any = None,
    config_toml: Optional[str] = None,
    config_name: str = "built-in configuration",
    source: Optional[str] = None,
) -> RawFeatures: ...
