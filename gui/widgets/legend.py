"""A legend in its own row of a plot's layout, under the plot: it never covers data."""

from __future__ import annotations

import pyqtgraph as pg


class RowLegend(pg.LegendItem):
    """A :class:`pyqtgraph.LegendItem` meant for a ``GraphicsLayout`` row.

    pyqtgraph's legend resizes itself by moving to the scene's origin (it expects to float
    over a plot); this one asks its layout for the room it needs and stays in its row.
    """

    def __init__(self, columns: int) -> None:
        super().__init__(colCount=columns)

    def updateSize(self) -> None:  # pyqtgraph's name
        """Take the rows' size as the minimum height and stay where the layout put the
        legend (it places it again on its next pass)."""
        where = self.pos()
        super().updateSize()
        self.setPos(where)
        self.setMinimumHeight(self.height())
        self.updateGeometry()
