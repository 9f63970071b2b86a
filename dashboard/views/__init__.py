"""The view kit: what every view of every page (explorer, trust, what-if, dataset) is built from.

- ``state_view``: ``StateView``, the one way a view follows the state (through the page's fan-out);
- ``fan_out``: ``StateFanOut``, one watcher per state part for all the views of a page, and the
  on-load resend (``refresh``);
- ``bokeh_batching``: why one change that updates several plots walks Bokeh's model graph once;
- ``plot_view``: ``PlotView`` (one plot, rebuilt or decorated in place) and ``TokenBarsView``;
- ``head_grid``: ``HeadGrid``, the layer x head grid, its tap and the current head's outline;
- ``job_button``: ``JobButton``, a button bound to one of the state's jobs, with progress and status;
- ``plotting``: what the plots share (the token axis, bars, bands, strips);
- ``widgets``: the widgets pages build from the state's parameters where Panel's own fall short: text boxes
  without Panel's 5,000-character cut (``TextBox``, ``TextLine``) and a ``Checkbox`` whose words tick it.

The pages' views live beside it: ``dashboard.explorer``, ``dashboard.trust``, ``dashboard.dataset``.
"""

from dashboard.views.fan_out import StateFanOut
from dashboard.views.head_grid import HeadGrid
from dashboard.views.job_button import JobButton
from dashboard.views.plot_view import PlotView, TokenBarsView
from dashboard.views.state_view import StateView
from dashboard.views.widgets import Checkbox, TextBox, TextLine

__all__ = [
    "Checkbox",
    "HeadGrid",
    "JobButton",
    "PlotView",
    "StateFanOut",
    "StateView",
    "TextBox",
    "TextLine",
    "TokenBarsView",
]
