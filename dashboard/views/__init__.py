"""One view per plot; each takes the shared ``ExplorerState`` (and the page's ``StateFanOut``) and talks only to it.

Shared machinery: ``base`` (``PlotView``, ``TokenBarsView``), ``plotting`` (the token axis, bars,
bands), ``fan_out`` (one watcher for all views) and ``bokeh_batching`` (why a head switch is cheap).
"""

from dashboard.views.answer import AnswerView
from dashboard.views.attention_heatmap import AttentionHeatmap
from dashboard.views.head_importance import HeadImportanceGrid
from dashboard.views.head_view import HeadView
from dashboard.views.model_view import ModelView
from dashboard.views.probabilities import ProbabilityBars
from dashboard.views.question_attention import QuestionAttentionBars
from dashboard.views.saliency_bars import SaliencyBars
from dashboard.views.saliency_heatmap import SaliencyHeatmap
from dashboard.views.saliency_text import SaliencyText, TokenText
from dashboard.views.top_k import TopKTable
from dashboard.views.whatif import WhatIfPanel

__all__ = [
    "AnswerView",
    "AttentionHeatmap",
    "HeadImportanceGrid",
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
