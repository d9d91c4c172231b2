"""depthlab: the helper package of *Software 2.0 2.0*.

One module per idea: `world` (the synthetic two-frame world), `real` (real pairs with ground
truth), `metrics` (depth metrics), `classical` (the SIFT pipeline), `stereo` (motion stereo,
the strongest classical method), `features` (a learned descriptor for the pipeline), `learned`
(the network and its training), `torchutils` (seeding, deterministic training, checkpoints),
`bootstrap` (the intervals that every study, the loop's gate and the chapters use),
`experiments` (studies and their command line), `parallel` (the executor every study runs its
jobs on: Dask, locally or on a cluster), `cache` (the disk cache of the studies' results),
`loop` (the continuous improvement loop), `explain` (each method's evidence and confidence,
and how well it predicts the error), `hybrid` (the learned depth with a classical fallback),
`widgets`, `plotting`, `timing` (timings that a busy machine cannot flip), and `cpu` (the same
numbers on any x86-64 CPU).
"""
__version__ = "0.1.0"
