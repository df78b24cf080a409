"FMix's λ: thresholds estimated from a grid (large images) or a histogram (CPU, 2-D images from 32²) keep λ distributed as Beta(α, α) and close to the λ drawn"
import numpy as np, pytest, torch
from scipy import stats
from fastmix.masks import sample_lam, fourier_masks

def ks_on_grid(lam, alpha:float, N:int)->tuple:
    "KS statistic and p-value of λs that are multiples of 1/N against round(N·Beta(α, α))/N, the law of exact masks"
    j = np.rint(np.asarray(lam, dtype=np.float64) * N).astype(np.int64)
    u, counts = np.unique(j, return_counts=True)
    emp = np.cumsum(counts) / len(j)
    F = lambda i: stats.beta(alpha, alpha).cdf(np.clip((i + .5) / N, 0, 1))
    # a discrete law: compare both the CDFs at each value and their left limits (scipy's kstest assumes no ties)
    d = max(np.abs(emp - F(u)).max(), np.abs(emp - counts / len(j) - F(u - 1)).max())
    return d, stats.kstwo.sf(d, len(j))

def used_lams(alpha:float, size:int, n:int=10_000, chunk:int=1000):
    torch.manual_seed(int(alpha * 10) + size)
    drawn = sample_lam(alpha, n)
    used = torch.cat([fourier_masks(drawn[i:i + chunk], (size, size))[1] for i in range(0, n, chunk)])
    return drawn.double().numpy(), used.double().numpy()

def test_ks_helper_rejects_a_shift():
    "The test can fail: λ shifted by two pixels' worth at 32² is caught"
    torch.manual_seed(0)
    lam = ((sample_lam(1., 10_000) * 1024).round() + 20).clamp(0, 1024) / 1024
    assert ks_on_grid(lam.numpy(), 1., 1024)[1] < .01

@pytest.mark.parametrize('size', [32, 224])
@pytest.mark.parametrize('alpha', [.2, 1., 5.])
def test_used_lam_follows_beta(alpha, size):
    drawn, used = used_lams(alpha, size)
    d, p = ks_on_grid(used, alpha, size * size)
    assert p > .01, (alpha, size, d, p)
    gap = np.abs(used - drawn)
    assert gap.max() < .01, gap.max()            # 32² on the CPU: from a histogram (up to .006); 224²: from the grid (.005)
    assert abs((used - drawn).mean()) < 2e-4                                   # unbiased
