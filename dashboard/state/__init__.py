"""The dashboard's state, Panel-free: ``ExplorerState`` and the parts it is made of (see ``explorer``)."""

from dashboard.state.explorer import FAST_METHODS, HOW_TO_POINT_AT_A_CHECKPOINT, SLOW_METHODS, ExplorerState
from dashboard.state.inputs import NO_EXAMPLE, Inputs
from dashboard.state.jobs import Job, Jobs
from dashboard.state.messages import Messages
from dashboard.state.result import Result
from dashboard.state.robustness import RobustnessState, robustness_part
from dashboard.state.runners import Outcome, Runner, SyncRunner, ThreadRunner, background_threads
from dashboard.state.selection import Selection, positions_between
from dashboard.state.trust import TrustState
from dashboard.state.view import ViewChoices

__all__ = [
    "FAST_METHODS",
    "HOW_TO_POINT_AT_A_CHECKPOINT",
    "NO_EXAMPLE",
    "SLOW_METHODS",
    "ExplorerState",
    "Inputs",
    "Job",
    "Jobs",
    "Messages",
    "Outcome",
    "Result",
    "RobustnessState",
    "Runner",
    "Selection",
    "SyncRunner",
    "ThreadRunner",
    "TrustState",
    "ViewChoices",
    "background_threads",
    "positions_between",
    "robustness_part",
]
