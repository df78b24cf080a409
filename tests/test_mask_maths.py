"The mask maths of fastmix.masks, down to its internals (band limit, matrix synthesis, grid thresholds): moved here from the notebook's hidden cells"
import math, torch
from fastmix.masks import (box_masks, low_freq_images, fourier_masks, threshold_masks, mask_thresholds,
                           _spectrum_scale, _synthesis, _synthesise, _POWER_TOL, _NEAR, _SIDE, _grid)

def test_box_masks():
    "CutMix boxes: λ is the mask mean, clipping only shrinks, boxes are products of intervals, minmax sides"
    from fastcore.test import test_eq
    torch.manual_seed(0)
    for spatial in [(37,), (16, 24), (5, 9, 7)]:
        lam = torch.rand(300)
        m, l = box_masks(lam, spatial)
        test_eq(m.shape, (300, 1, *spatial))
        test_eq(l, m.flatten(1).mean(1))                                  # λ is the mask's mean
        assert set(m.unique().tolist()) <= {0., 1.}
        # box volume before clipping is round(side*size) per dim: within one cell per dim of the target
        cut = [(((1 - lam) ** (1 / len(spatial))) * s).round() for s in spatial]
        vol = torch.stack(cut).prod(0) / math.prod(spatial)
        assert (1 - l >= 0).all() and (1 - l <= vol + 1e-6).all()        # clipping only shrinks the box
        test_eq(box_masks(torch.ones(3), spatial)[1], torch.ones(3))       # λ = 1: no box
        test_eq(box_masks(torch.zeros(4), spatial)[0].shape, (4, 1, *spatial))
    # boxes are boxes: every mask's zero set is a product of intervals
    m, _ = box_masks(torch.full((50,), .5), (20, 30))
    z = m[:, 0] == 0
    rows, cols = z.any(2), z.any(1)
    test_eq(z, rows[:, :, None] & cols[:, None, :])
    test_eq(box_masks(torch.rand(4), (8, 8), dtype=torch.float16)[0].dtype, torch.float16)
    # minmax: every side is a fraction in [lo, hi] of its dim (to the pixel), never clipped, λ still exact
    for spatial in [(50,), (40, 60), (10, 20, 30)]:
        m, l = box_masks(torch.rand(400), spatial, minmax=(.2, .6))
        test_eq(l, m.flatten(1).mean(1))
        z = m[:, 0] == 0
        for d, s in enumerate(spatial):
            other = tuple(i + 1 for i in range(len(spatial)) if i != d)
            extent = z.any(other) if other else z
            sides = extent.sum(1).float() / s
            assert (sides >= .2 - .5 / s).all() and (sides <= .6 + .5 / s).all()
            assert sides.std() > .05                                      # drawn, not fixed

def test_low_freq_images():
    "FMix's grey images: isotropic (the reference's two spectrum bugs are far outside the tolerance), band-limited, the real products draw irfftn's distribution"
    from fastcore.test import test_eq
    def grad_energy(ims):
        "Mean squared finite difference along each spatial axis"
        return torch.stack([ims.diff(dim=d).pow(2).mean() for d in range(1, ims.ndim)])

    torch.manual_seed(0)
    for spatial, n, tol in [((64, 64), 2000, 1.1), ((63, 65), 2000, 1.15), ((24, 24, 24), 400, 1.1)]:
        # 2-D images: 2,000 of them, as 400 put the ratio anywhere up to 1.2 by chance (12 seeds); 63x65 is a little
        # anisotropic in itself, since the lowest frequencies, which hold most of the power, are 1/63 and 1/65 (1.09)
        for dp in [1., 3.]:
            e = grad_energy(low_freq_images(n, spatial, dp))
            assert (e.max() / e.min()) < tol, (spatial, dp, e)               # isotropic
    # the two bugs this guards against are far outside that tolerance:
    def spectrum_bug(n, h, w, dp):   # the reference code's indexing
        fy = torch.fft.fftfreq(h)[:, None]; fx = torch.fft.rfftfreq(w)[None]
        scale = (fy**2 + fx**2).sqrt().clamp(min=1/max(h, w)) ** -dp
        s = torch.randn(n, *scale.shape, 2) * scale[..., None]            # real/imag on the last axis...
        return torch.fft.irfft2(s[:, 0] + 1j * s[:, 1], s=(h, w))         # ...but rows 0 and 1 indexed
    # (its ratio is about 2.0: 1.95-2.07 over 20 seeds of 2,000 images; 1.88-2.21 of 400)
    e = grad_energy(spectrum_bug(2000, 64, 64, 3.)); assert e.max() / e.min() > 1.5
    fy, fx = torch.fft.fftfreq(64)[:, None], torch.fft.rfftfreq(64)[None]
    unfixed = (fy**2 + fx**2).sqrt().clamp(min=1/64) ** -3.                     # no √2 on the Hermitian columns
    ims = torch.fft.irfft2(torch.view_as_complex(torch.randn(400, *unfixed.shape, 2)) * unfixed, s=(64, 64))
    e = grad_energy(ims); assert e.max() / e.min() > 1.15, e
    # 1-D: the decay power changes the images' smoothness
    r = [grad_energy(low_freq_images(500, (256,), dp)) / low_freq_images(500, (256,), dp).var() for dp in (1., 3.)]
    assert r[0] > 10 * r[1]
    test_eq(low_freq_images(3, (10, 12, 14), 2.).shape, (3, 10, 12, 14))
    # the band limit drops almost nothing: images match the full spectrum's to a thousandth of their spread
    for dp in (1., 3.):
        sc, box = _spectrum_scale((64, 48), dp, 'cpu')
        kept = torch.zeros(64, 25); kept[box] = 1
        fy, fx = torch.fft.fftfreq(64)[:, None], torch.fft.rfftfreq(48)[None]
        full = (fy**2 + fx**2).sqrt().clamp(min=1/64) ** -dp; full[:, 0] *= math.sqrt(2); full[:, -1] *= math.sqrt(2)
        assert ((full * (1 - kept)) ** 2).sum() <= _POWER_TOL * (full ** 2).sum()
    sc, _ = _spectrum_scale((224, 224), 3., 'cpu')
    assert sc.numel() < .05 * 224 * 113                                     # and skips most of the work at 224²
    # the real products draw what irfftn draws: the same covariance, entry by entry (both routes are linear in
    # their Gaussian coefficients, so pushing the identity through each gives its exact covariance)
    def cov_fft(spatial, dp):
        scale, box = _spectrum_scale(spatial, dp, 'cpu')
        m = 2 * scale.numel()
        spec = torch.zeros(m, *spatial[:-1], spatial[-1] // 2 + 1, dtype=torch.complex128)
        spec[(slice(None), *box)] = torch.view_as_complex(torch.eye(m, dtype=torch.float64).view(m, *scale.shape, 2)) * scale
        L = torch.fft.irfftn(spec, s=spatial, dim=tuple(range(1, len(spatial) + 1))).reshape(m, -1)
        return L.T @ L
    def cov_products(spatial, dp):
        amp, mats = _synthesis(spatial, dp, 'cpu')
        m = amp.numel()
        L = _synthesise(torch.eye(m, dtype=torch.float64).view(m, *amp.shape) * amp, [B.double() for B in mats])
        return L.reshape(m, -1).T @ L.reshape(m, -1)
    for spatial in [(256,), (255,), (32, 32), (31, 33), (64, 48), (12, 10, 9), (9, 12, 16)]:
        for dp in (1., 3.):
            if dp == 3: assert _synthesis(spatial, dp, 'cpu') is not None, spatial
            if _synthesis(spatial, dp, 'cpu') is None: continue
            a, b = cov_fft(spatial, dp), cov_products(spatial, dp)
            b = b * a.trace() / b.trace()                    # a constant factor moves no threshold
            assert (a - b).abs().max() < 1e-6 * a.abs().max(), (spatial, dp)
            torch.manual_seed(1)
            assert low_freq_images(3, spatial, dp).shape == (3, *spatial)
    for spatial in [(224, 224), (225, 223)]: assert _synthesis(spatial, 3., 'cpu') is not None
    # an anisotropic basis weighting (no factor 2 for paired dimensions) would be caught
    amp, mats = _synthesis((32, 32), 3., 'cpu')
    assert amp.max() / amp.min() > 1e3 and len(mats) == 2 and mats[0].shape == (19, 32)
    assert _synthesis((256,), 1., 'cpu') is None       # the whole spectrum of a long 1-D signal: the FFT is cheaper
    assert _synthesis((64, 64, 64), 1., 'cpu') is not None   # a whole 3-D spectrum: real products still are (16 ms to 18)

def test_fourier_masks():
    "FMix masks: counts, exact λ, soft bands, dtypes, no mutation, large decay powers, grid thresholds and their tails, volumes"
    from fastcore.test import test_eq, test_close
    torch.manual_seed(0)
    for spatial in [(100,), (20, 30), (31, 40), (9, 10, 11)]:
        N = math.prod(spatial)
        lam = torch.cat([torch.tensor([0., 1., .5]), torch.rand(40)])
        m, l = fourier_masks(lam, spatial)
        test_eq(m.shape, (43, 1, *spatial))
        kept, want = m.flatten(1).sum(1), (lam * N).round()
        test_eq(kept[:2], torch.tensor([0., N]))                             # λ 0 and 1: nothing and everything, always
        if len(spatial) == 2 and N >= _NEAR: assert (kept - want).abs().max() <= 8, kept - want   # the CPU's histogram
        else: test_eq(kept, want)                        # 1-D, smaller 2-D images, volumes: exactly round(λN) pixels kept
        test_eq(l, m.flatten(1).mean(1))                                 # λ is the mask's mean
        assert set(m.unique().tolist()) <= {0., 1.}
        ms, ls = fourier_masks(lam, spatial, max_soft=.2)
        test_close(ls, ms.flatten(1).mean(1), eps=1e-6)
        assert (ms >= 0).all() and (ms <= 1).all()
        test_close(ls, (lam * N).round() / N, eps=1e-6)                  # the ramp keeps λ
    # a soft band really is soft, and is no wider than asked
    ms, ls = fourier_masks(torch.full((20,), .5), (64, 64), max_soft=.1)
    frac_soft = ((ms > 0) & (ms < 1)).float().flatten(1).mean(1)
    assert (frac_soft > .15).all() and (frac_soft <= .2).all()
    # soft masks follow the grey image: brighter pixels never get less of the sample
    torch.manual_seed(6); ms, _ = fourier_masks(torch.tensor([.4]), (24, 24), max_soft=.2)
    torch.manual_seed(6); g = low_freq_images(1, (24, 24)).flatten()
    assert (ms.flatten()[g.argsort()].diff() >= 0).all()
    # FMix masks are thresholded images: kept pixels are exactly the brightest ones
    torch.manual_seed(5); m, _ = fourier_masks(torch.tensor([.3]), (20, 20))
    torch.manual_seed(5); g = low_freq_images(1, (20, 20))
    assert g[0][m[0, 0] == 1].min() > g[0][m[0, 0] == 0].max()
    test_eq(fourier_masks(torch.rand(3), (8, 8), dtype=torch.bfloat16)[0].dtype, torch.bfloat16)
    # threshold_masks leaves the caller's images as they are; fourier_masks, which writes over its own, gives the same masks
    for spatial, dt in [((40, 40), torch.float32), ((224, 224), torch.float32), ((40, 40), torch.bfloat16)]:
        lam = torch.rand(5)
        torch.manual_seed(7); g = low_freq_images(5, spatial); g0 = g.clone()
        m, l = threshold_masks(g, lam, dtype=dt); test_eq(g, g0)
        torch.manual_seed(7); m2, l2 = fourier_masks(lam, spatial, dtype=dt)
        assert torch.equal(m2, m) and torch.equal(l2, l) and m2.dtype == dt
    # large decay powers: finite images and exact masks (f_min^-decay_power used to overflow float32: NaN images, all-zero masks)
    for spatial, dp in [((32, 32), 30.), ((224, 224), 20.), ((16, 16), 1e6)]:
        lam = torch.tensor([.1, .5, .9])
        g = low_freq_images(3, spatial, dp)
        assert torch.isfinite(g).all() and (g.std((1, 2)) > 0).all()
        m, l = fourier_masks(lam, spatial, dp)
        test_eq(m.flatten(1).mean(1), l); test_close(l, lam, eps=.01)     # round(λ·N)/N
    # large images: the threshold comes from a grid, λ is still each mask's exact mean and close to the λ asked for
    torch.manual_seed(0)
    lam = torch.cat([torch.tensor([0., 1., 1e-4, 1 - 1e-4, .003, .997]), torch.rand(58)])
    for spatial in [(224, 224), (100, 130), (4096,)]:
        N = math.prod(spatial)
        grey = low_freq_images(64, spatial)
        m, l = threshold_masks(grey, lam)
        test_eq(l, m.flatten(1).mean(1))
        # a 1-D signal dwells at its peaks, so one histogram bin of its grid can hold a few percent of it: the largest
        # error of 64 masks was 0.004-0.017 over 30 seeds at 4096 (0.002-0.0034 in 2-D)
        assert (l - lam).abs().max() < (.01 if len(spatial) > 1 else .025), (spatial, (l - lam).abs().max())
        tail = (lam * N).round() < math.ceil(_SIDE * N / _grid(grey).shape[1])
        tail |= (lam * N).round() > N - math.ceil(_SIDE * N / _grid(grey).shape[1])
        test_eq(m.flatten(1).sum(1)[tail], (lam * N).round()[tail])        # tails: exact
        assert not tail.all()
        test_eq(mask_thresholds(grey, lam, sync_free=True), mask_thresholds(grey, lam, sync_free=False))
    # 3-D volumes keep the exact count: every value at least the round(λ·N)-th largest (values tied with it all kept)
    lam = torch.rand(8); g = low_freq_images(8, (30, 40, 50)).flatten(1); m, l = threshold_masks(g.view(8, 30, 40, 50), lam)
    k = (lam * 60000).round().long()
    kth = g.sort(1, descending=True).values.gather(1, (k - 1).clamp(min=0)[:, None])
    test_eq(m.flatten(1).sum(1).long(), torch.where(k > 0, (g >= kth).sum(1), 0))
    # the grid path is a threshold too: every kept pixel is brighter than every dropped one
    g = low_freq_images(1, (224, 224)); m, _ = threshold_masks(g, torch.tensor([.37]))
    assert g[0][m[0, 0] == 1].min() > g[0][m[0, 0] == 0].max()
