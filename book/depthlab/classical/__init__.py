"""The classical pipeline: relative depth from two frames with SIFT, step by step.

1. `detect`: SIFT keypoints and descriptors in each frame (Lowe, 2004). A learned descriptor
   (`depthlab.features`) can replace SIFT's at the same keypoints: ``descriptor=`` here, in
   `run_pipeline` and in `estimate_depth`; every later step is unchanged.
2. `match`: nearest-neighbour descriptor matches, kept by Lowe's ratio test.
3. `filter_matches`: epipolar RANSAC (Fischler and Bolles, 1981). For a camera that
   translates in its image plane every flow vector is parallel to one direction, so a single
   match is a hypothesis ("translation"); the general alternative is the fundamental matrix
   from eight points ("fundamental", OpenCV's RANSAC).
4. `refine_matches` (optional): move each inlier's frame-1 position along the flow direction
   to the sub-pixel peak of a normalised cross-correlation, since SIFT finds the keypoints of
   the two frames independently.
5. `sparse_flow`: the flow of the inlier matches.
6. `relative_depth`: depth is ``focal * baseline / disparity``, so ``1 / disparity`` is depth up
   to one unknown scale.
7. `densify`: interpolate inverse depth (affine on planes) or depth between the matches,
   optionally without interpolating across depth edges.

`run_pipeline` chains the steps and keeps every intermediate result; `estimate_depth` returns
just the (H, W) relative depth map. `depthlab.stereo` builds motion stereo, the book's
strongest classical method, on the pipeline's motion.

The package has one module per part: `matching` (steps 1 and 2), `geometry` (3 to 5), `depth`
(6 and 7) and `pipeline` (the steps chained).
"""
from .depth import densify, relative_depth
from .geometry import EpipolarFit, filter_matches, refine_matches, sparse_flow
from .matching import Features, Matches, detect, keypoints, match
from .pipeline import PipelineResult, UnreliableDepthWarning, estimate_depth, run_pipeline

__all__ = ["EpipolarFit", "Features", "Matches", "PipelineResult", "UnreliableDepthWarning",
           "densify", "detect", "estimate_depth", "filter_matches", "keypoints", "match",
           "refine_matches", "relative_depth", "run_pipeline", "sparse_flow"]
