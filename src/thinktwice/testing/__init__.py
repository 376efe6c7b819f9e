"""Helpers for tests and benchmarks that compare thinktwice with other libraries.

Not used by the library itself; importing it needs nothing beyond torch.
"""

from thinktwice.testing.captum_compat import ReLU6SeenByCaptum, captum_view

__all__ = ["ReLU6SeenByCaptum", "captum_view"]
