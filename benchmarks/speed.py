"""Speed benchmark of the book's building blocks (run by hand; not a test).

    python benchmarks/speed.py            # from the repository root

Prints scenes rendered per second (one core), the classical pipeline's time per pair (after
warm-up), with SIFT's descriptor and with a learned one (`depthlab.features`), the learned
descriptor's training time (rendering its scenes included, one thread, as in the sweep), the
learned model's training time and batched inference time per pair, and the peak resident
memory, and the wall time of each round of one continuous improvement loop at its default
settings (`depthlab.loop`, in a scratch database; its first model comes from the model cache, or
is trained first). The targets: a descriptor trains in 10 s or less, the pipeline with it takes
15 ms or less per pair, and a round of the loop takes 15 s or less.

Last, the crossover recipe's training step against what one core can do (`training_rate`): its
counted floating-point operations per second, as a share of the fastest rate that any of the
network's own convolutions reaches alone at its own shapes; and what was tried to get closer
(channels-last memory, a larger batch, two threads, the minibatch's assembly, scoring under
inference mode). The target: the step at 60% of that peak or more.
"""
import pathlib
import resource
import sys
import tempfile
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from depthlab import classical, experiments, features, learned, loop, timing, world


def world_speed(n_scenes=1024, batch=64):
    world.render_scenes(0, range(batch))  # warm-up: texture atlas

    def render():
        for first in range(0, n_scenes, batch):
            world.render_scenes(0, range(first, first + batch))

    # the world's budget is stated for one core
    return n_scenes / timing.fastest({"render": render}, repeats=5, n_threads=1)["render"]


def classical_speed(n_pairs=100, descriptor=None):
    """ms per pair of the whole pipeline (detection, description, matching, RANSAC, depth)."""
    scenes = experiments.test_scenes(n_pairs)
    # warm-up: SIFT's first call
    classical.run_pipeline(scenes[0].frame0, scenes[0].frame1, descriptor=descriptor)

    def run():
        for i in range(n_pairs):
            classical.run_pipeline(scenes[i].frame0, scenes[i].frame1, descriptor=descriptor)

    return 1e3 * timing.fastest({"run": run}, repeats=3, n_threads=1)["run"] / n_pairs


def descriptor_speed(sizes=(16, 4096)):
    """Seconds to train the sweep's descriptor (one thread), rendering included, per size."""
    seconds = {}
    for n in sizes:
        start = time.perf_counter()
        descriptor = features.train(n, config=experiments.FEATURE_CONFIG, progress=False)
        seconds[n] = time.perf_counter() - start
    return seconds, descriptor


def learned_speed(sizes=(16, 4096), n_pairs=200):
    """Training seconds per model (data rendering excluded) and inference ms per pair."""
    torch.set_num_threads(2)
    seconds = {}
    for n in sizes:
        learned.SceneDataset(n)  # render (and cache) the training scenes first
        start = time.perf_counter()
        model = learned.train(n, progress=False)
        seconds[n] = time.perf_counter() - start
    scenes = experiments.test_scenes(n_pairs)
    learned.predict_batch(model, scenes.frame0[:10], scenes.frame1[:10])  # warm-up
    infer = timing.fastest(
        {"infer": lambda: learned.predict_batch(model, scenes.frame0, scenes.frame1)},
        repeats=3, n_threads=2)["infer"]
    return seconds, 1e3 * infer / n_pairs, model.train_config


def loop_round_speed():
    """Wall time of each round of a loop at the default settings, run one round per call, as a
    reader who resumes it round by round would (opening the database and loading the champion
    included)."""
    config = loop.LoopConfig()
    rounds = len(loop.PHASES) * config.phase_rounds
    with tempfile.TemporaryDirectory() as folder:
        db = pathlib.Path(folder) / "loop.sqlite"
        loop.run(db, 1, config=config, progress=False)  # the first model, and round 1 as a warm-up
        seconds = []
        for r in range(2, rounds + 1):
            start = time.perf_counter()
            loop.run(db, r, config=config, progress=False)
            seconds.append(time.perf_counter() - start)
    return seconds


def _flops(call):
    with FlopCounterMode(display=False) as counter:
        call()
    return counter.get_total_flops()


def _repeat(call, steps):
    return lambda: [call() for _ in range(steps)]


def training_rate(steps=10):
    """The crossover recipe's training step (whole frames, the 2-D search of the standard
    world) against the convolution peak of one core, and what else was tried.

    Every `torch.nn.Conv2d` of the network is timed alone, forward and backward, on an input of
    the shape it meets in the step; the fastest rate among them is the peak. The step is timed
    on a fixed minibatch as the recipe runs it, and with each variant: the network and frames in
    channels-last memory, a batch twice as large (time per item), two threads, and the
    minibatch's assembly (`learned` draws, crops and flips it from the stored frames on every
    step; fixed buffers could save at most this). Scoring is timed under `torch.no_grad` (as
    `learned.predict_batch` does) and `torch.inference_mode`. All are interleaved
    (`timing.fastest`), so the ratios hold on a busy machine.

    Returns
    -------
    dict
        ``gflop`` of a step, ``peak`` and ``achieved`` in GFLOP/s, and ms for each timing.
    """
    config = experiments.CROSSOVER_CONFIG
    model_config = learned.ModelConfig.for_world(world.WorldConfig())
    data = learned.SceneDataset(4 * config.batch, data=learned.DataConfig(stream=4300))

    def step_of(batch=config.batch, channels_last=False):
        net = learned.untrained(model_config, 0).net
        x, target = data.items(torch.arange(batch))
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)

        def step():
            loss = learned.scale_invariant_loss(net(x), target)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        return net, step

    net, step = step_of()
    shapes = []
    hooks = [m.register_forward_hook(lambda m, inputs, _: shapes.append((m, inputs[0].shape)))
             for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    step()
    for hook in hooks:
        hook.remove()
    flops = _flops(step)
    generator = torch.Generator().manual_seed(0)
    frames = data.items(torch.arange(config.batch))[0]

    def score(context):
        def call():
            net.eval()
            with context():
                net(frames)
            net.train()
        return call

    calls = {"step": _repeat(step, steps),
             "channels_last": _repeat(step_of(channels_last=True)[1], steps),
             "batch_x2": _repeat(step_of(batch=2 * config.batch)[1], steps),
             "minibatch": _repeat(lambda: learned.training._minibatch(data, config, generator),
                                  steps),
             "no_grad": _repeat(score(torch.no_grad), steps),
             "inference_mode": _repeat(score(torch.inference_mode), steps)}
    conv_flops = {}
    for k, (module, shape) in enumerate(shapes):
        conv = torch.nn.Conv2d(module.in_channels, module.out_channels, module.kernel_size,
                               padding=module.padding, dilation=module.dilation)
        x = torch.randn(shape, requires_grad=True)

        def conv_step(conv=conv, x=x):
            conv(x).sum().backward()
        conv_flops[f"conv {k}"] = _flops(conv_step)
        calls[f"conv {k}"] = _repeat(conv_step, steps)
    ms = {name: 1e3 * t / steps for name, t in timing.fastest(calls, repeats=5).items()}
    two = timing.fastest({"step": _repeat(step, steps)}, repeats=5, n_threads=2)["step"]
    peak = max(conv_flops[name] / ms[name] for name in conv_flops) / 1e6
    return {"gflop": flops / 1e9, "peak": peak, "achieved": flops / ms["step"] / 1e6,
            **{name: ms[name] for name in calls if not name.startswith("conv")},
            "two_threads": 1e3 * two / steps}


def main():
    print(f"world: {world_speed():.0f} scenes/s at 64 x 96 on one core (best of 5)")
    print(f"classical pipeline: {classical_speed():.1f} ms per pair at 64 x 96, one thread "
          "(best of 3)")
    seconds, descriptor = descriptor_speed()
    for n, s in seconds.items():
        print(f"learned descriptor: {s:.1f} s to train on {n} scenes, one thread "
              f"({descriptor.train_config.steps} steps)")
    torch.set_num_threads(1)
    print(f"pipeline with the learned descriptor: {classical_speed(descriptor=descriptor):.1f} ms "
          "per pair at 64 x 96, one thread (best of 3)")
    seconds, ms_per_pair, config = learned_speed()
    for n, s in seconds.items():
        print(f"learned model: {s:.1f} s to train on {n} scenes ({config.steps} steps, "
              f"{1e3 * s / config.steps:.0f} ms per step)")
    print(f"learned model: {ms_per_pair:.2f} ms per pair in batches of 100 (best of 3)")
    seconds = loop_round_speed()
    print(f"loop: a round takes {max(seconds):.1f} s at most and "
          f"{sum(seconds) / len(seconds):.1f} s "
          f"on average at the default settings, one thread (rounds 2 to {len(seconds) + 1})")
    rate = training_rate()
    print(f"training step (crossover recipe, one thread): {rate['step']:.1f} ms, "
          f"{rate['gflop']:.2f} GFLOP, {rate['achieved']:.1f} GFLOP/s against a convolution peak "
          f"of {rate['peak']:.1f} ({rate['achieved'] / rate['peak']:.0%})")
    print(f"  tried: channels-last {rate['channels_last']:.1f} ms; a batch twice as large "
          f"{rate['batch_x2'] / 2:.1f} ms per {experiments.CROSSOVER_CONFIG.batch} items; "
          f"two threads {rate['two_threads']:.1f} ms; the minibatch's assembly "
          f"{rate['minibatch']:.2f} ms of the step; scoring a minibatch {rate['no_grad']:.1f} ms "
          f"under no_grad, {rate['inference_mode']:.1f} ms under inference_mode")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
