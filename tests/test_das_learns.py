"""DAS must learn to find an informative frame that moves from sample to sample.

A made-up task: T = 16 frames of low-contrast speckle; in one random frame per sample sits a small
bright pattern (a filled square for class 0, a hollow square of similar brightness for class 1).
With k = 4 picks (ratio 0.25), uniform picks see that frame for a quarter of the samples at best.
"""

import torch
import torch.nn.functional as F

from das_core import SubsampledClassifier, make_sampler

T, K, S = 16, 4, 16


def make_task(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x = 0.3 * torch.rand(n, T, 1, S, S, generator=g)
    y = torch.randint(0, 2, (n,), generator=g)
    where = torch.randint(0, T, (n,), generator=g)
    for i in range(n):
        r, c = torch.randint(2, S - 7, (2,), generator=g).tolist()
        patch = torch.ones(5, 5)
        if y[i] == 1:
            patch[1:4, 1:4] = 0.0
            patch *= 25 / 16  # similar total brightness to the filled square
        x[i, where[i], 0, r : r + 5, c : c + 5] = patch.clamp(max=1.0)
    return x, y, where


def train(method: str, steps: int = 300, seed: int = 0):
    torch.manual_seed(seed)
    model = SubsampledClassifier(make_sampler(method, T, K), "small_cnn", 2, 1)
    opt = torch.optim.Adam(model.parameter_groups(2e-3))
    x, y, _ = make_task(1024, seed=1)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(x), (16,), generator=g)
        loss, _, _ = model.training_loss(x[idx], y[idx], F.cross_entropy)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    xt, yt, wt = make_task(256, seed=2)
    with torch.no_grad():
        logits, sel = model(xt)
    accuracy = (logits.argmax(1) == yt).float().mean().item()
    hit = (sel.indices == wt[:, None]).any(1).float().mean().item()
    return accuracy, hit


def test_das_beats_uniform_when_the_informative_frame_moves():
    das_acc, das_hit = train("das")
    uni_acc, uni_hit = train("uniform")
    print(f"DAS accuracy {das_acc:.3f} (hit rate {das_hit:.2f}); uniform {uni_acc:.3f} (hit rate {uni_hit:.2f})")
    assert uni_hit <= 0.3
    assert das_hit >= 0.8, f"DAS found the informative frame in only {das_hit:.0%} of test samples"
    assert das_acc >= uni_acc + 0.15, f"DAS {das_acc:.3f} vs uniform {uni_acc:.3f}"
