"""The learned model: one inference call from two frames to relative depth.

`DepthNet` turns two grey frames into a dense disparity map (the flow length in pixels).
Nothing in it knows the camera's motion or how to match: it is given the products of the
two frames' locally normalised intensities at every displacement within a small window (a
correlation "cost volume", a fixed and general operation), their average over the whole
image, and frame 0, and it learns from examples to turn those into disparity:

1. front end (fixed, not trained): frames at half resolution, local normalisation, the
   correlation at all ``(2r + 1)**2`` displacements, a 3 x 3 average, and the image-wide mean
   of each correlation channel, which tells every pixel where the whole scene matches best;
2. a per-pixel network (1 x 1 convolutions) over those channels;
3. dilated 3 x 3 convolutions for context, so that textureless areas borrow from their
   neighbours;
4. a positive output (softplus), upsampled to full resolution.

With ``coarse_radius`` set (`ModelConfig.for_world` sets it), a second cost volume at quarter
resolution searches far enough for the largest disparity the world can produce, and its first
layer is applied at quarter resolution and upsampled.

`train` fits it to scenes of `depthlab.world` with a budget of optimisation steps, or with
early stopping on validation scenes (`TrainConfig.patience`). The
loss is scale-invariant, like the metrics: the mean absolute error of log disparity after
removing each crop's mean log error (Eigen et al., 2014), since only relative depth is asked
for. `predict` returns relative depth (``1 / disparity``) like `classical.estimate_depth`.

The package has one module per part: `config` (the settings), `net` (the network and a
trained model) and `training` (the data, the loss and the training loop).
"""
from .config import DataConfig, ModelConfig, TrainConfig
from .net import DepthModel, DepthNet, evaluate, load, predict, predict_batch, save, untrained
from .training import SceneDataset, fit, scale_invariant_loss, train

__all__ = ["DataConfig", "DepthModel", "DepthNet", "ModelConfig", "SceneDataset", "TrainConfig",
           "evaluate", "fit", "load", "predict", "predict_batch", "save", "scale_invariant_loss",
           "train", "untrained"]
