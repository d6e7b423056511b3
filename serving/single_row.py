"""LightGBM's single-row fast path, for scoring one session at a time.

`Booster.predict` builds a predictor (parses its parameters, sizes its buffers) on every call:
about 20 us of a 1-row raw score's 27 us. The C API's `LGBM_BoosterPredictForMatSingleRowFast`
builds it once (`...FastInit`) and then only walks the trees, through the same prediction
function `Booster.predict` uses, so the numbers are bit-identical; `serving.loader.smoke` checks
that on every model before it serves. Concurrent calls are safe: LightGBM locks the predictor.

The Python package does not wrap this API, so it is called through the package's own ctypes
handle (`lightgbm.basic._LIB`), as `Booster.predict` itself is.
"""

from __future__ import annotations

import ctypes
import weakref
from typing import Literal

import lightgbm as lgb
import numpy as np
from lightgbm.basic import _safe_call
from lightgbm.libpath import _LIB

__all__ = ["RowPredictor"]

# lightgbm/c_api.h
_PREDICT_TYPES = {"raw": 1, "contrib": 3}  # C_API_PREDICT_RAW_SCORE, C_API_PREDICT_CONTRIB
_FLOAT64 = 1  # C_API_DTYPE_FLOAT64


def _free(handle: ctypes.c_void_p, booster: lgb.Booster) -> None:
    """Free the predictor; `booster` rides along so it outlives the predictor pointing into it."""
    _LIB.LGBM_FastConfigFree(handle)


class RowPredictor:
    """`booster.predict(row[None, :], raw_score=True | pred_contrib=True, num_threads=1)[0]` for
    one float64 row, with the predictor built once."""

    def __init__(self, booster: lgb.Booster, output: Literal["raw", "contrib"]) -> None:
        self.width = booster.num_feature()
        self.size = 1 if output == "raw" else self.width + 1
        handle = ctypes.c_void_p()
        # Booster.predict's default: its best iteration when it has one, else all of them.
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(_PREDICT_TYPES[output]),
                ctypes.c_int(0),
                ctypes.c_int(booster.best_iteration),
                ctypes.c_int(_FLOAT64),
                ctypes.c_int32(self.width),
                ctypes.c_char_p(b"num_threads=1"),
                ctypes.byref(handle),
            )
        )
        self._handle = handle
        weakref.finalize(self, _free, handle, booster)

    def __call__(self, row: np.ndarray) -> np.ndarray:
        if row.dtype != np.float64 or row.shape != (self.width,) or not row.flags.c_contiguous:
            raise ValueError(
                f"expected a C-contiguous float64 row of {self.width} values, got {row.dtype} {row.shape}"
            )
        out = np.empty(self.size, dtype=np.float64)
        length = ctypes.c_int64(0)
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFast(
                self._handle,
                ctypes.c_void_p(row.ctypes.data),
                ctypes.byref(length),
                ctypes.c_void_p(out.ctypes.data),
            )
        )
        return out
