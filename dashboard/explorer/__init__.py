"""The explorer page's views: one answer explained, each view built on the view kit (``dashboard.views``).

Each takes the session's ``ExplorerState`` and the page's fan-out and talks only to the state.
"""

from dashboard.explorer.answer import AnswerView
from dashboard.explorer.attention_heatmap import AttentionHeatmap
from dashboard.explorer.head_view import HeadView
from dashboard.explorer.model_view import ModelView
from dashboard.explorer.probabilities import ProbabilityBars
from dashboard.explorer.question_attention import QuestionAttentionBars
from dashboard.explorer.saliency_bars import SaliencyBars
from dashboard.explorer.saliency_heatmap import SaliencyHeatmap
from dashboard.explorer.saliency_text import SaliencyText, TokenText
from dashboard.explorer.top_k import TopKTable
from dashboard.explorer.whatif import WhatIfPanel

__all__ = [
    "AnswerView",
    "AttentionHeatmap",
    "HeadView",
    "ModelView",
    "ProbabilityBars",
    "QuestionAttentionBars",
    "SaliencyBars",
    "SaliencyHeatmap",
    "SaliencyText",
    "TokenText",
    "TopKTable",
    "WhatIfPanel",
]
