"""training: splits, LightGBM fit, calibration, evaluation and baselines, tuning, MLflow.

train(table, config, truth=, catalog=, tune_trials=) -> TrainResult      pure, no I/O
train_and_track(table, config, settings, out=, register_as=, ...)        + save, MLflow
log_training / register / promote / load_model                          MLflow only
"""

from training.config import GateConfig, LightGBMParams, TrainConfig, TuneConfig
from training.data import read_feature_table
from training.errors import RegistryError, TrainingDataError
from training.flow import TrainOutcome, train_and_track
from training.tracking import PromotionDecision, TrackingSettings, load_model, log_training, promote, register
from training.train import TrainResult, train

__all__ = [
    "GateConfig",
    "LightGBMParams",
    "PromotionDecision",
    "RegistryError",
    "TrackingSettings",
    "TrainConfig",
    "TrainOutcome",
    "TrainResult",
    "TrainingDataError",
    "TuneConfig",
    "load_model",
    "log_training",
    "promote",
    "read_feature_table",
    "register",
    "train",
    "train_and_track",
]
