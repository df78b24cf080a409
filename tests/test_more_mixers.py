"ResizeMix, SaliencyMix, GridMix and SmoothMix: exact λ, what each pastes, label maps, edge cases, OneOfMix with all seven."
import math, pytest, torch
import torch.nn.functional as F
from fastmix.mixing import OneOfMix
from fastmix.methods import MixUp, CutMix, FMix, ResizeMix, SaliencyMix, GridMix, SmoothMix
from fastmix.shapes import salient_points, paste_resized
from fastmix.masks import corner_masks

NEW = [ResizeMix, SaliencyMix, GridMix, SmoothMix]

def labelled(bs=8, spatial=(24, 20)):
    "Images whose every pixel says whose it is: sample i is the constant i+1 (one channel)"
    return (torch.arange(1., bs + 1).view(bs, 1, *[1] * len(spatial)).expand(bs, 1, *spatial).contiguous(),)

@pytest.mark.parametrize('cls', [SaliencyMix, GridMix, ResizeMix])
@pytest.mark.parametrize('spatial', [(37,), (24, 20), (7, 9, 11)])
def test_lam_is_each_samples_exact_share(cls, spatial):
    (x,), y = labelled(8, spatial), torch.arange(8)
    torch.manual_seed(0)
    (xm,), _, m = cls().mix((x,), (y,))
    own = torch.isclose(xm, x).flatten(1).float().mean(1)               # a resized constant is the constant (to rounding)
    from_partner = torch.isclose(xm, x[m.perm]).flatten(1).float().mean(1)
    assert torch.equal(own, m.lam) and torch.equal(own + from_partner, torch.ones(8))

def test_smoothmix_masks_are_soft_and_lam_is_their_mean():
    (x,), y = labelled(), torch.arange(8)
    for shape in ('circle', 'square'):
        torch.manual_seed(1)
        (xm,), _, m = SmoothMix(shape=shape).mix((x,), (y,))
        soft = ((m.mask > 0) & (m.mask < 1)).flatten(1).float().mean(1)
        assert (soft > .2).all(), soft                                    # a fading edge, not a hard one
        torch.testing.assert_close(m.lam, m.mask.flatten(1).mean(1))
        # each pixel is its own value where the mask is 1, its partner's where 0: the mean mixes them by λ
        torch.testing.assert_close(xm.flatten(1).mean(1), m.lam * x[:, 0, 0, 0] + (1 - m.lam) * x[m.perm, 0, 0, 0])

def test_resizemix_pastes_the_whole_partner_shrunk():
    bs, H, W = 6, 32, 40
    ramp = torch.linspace(0, 1, W).expand(H, W)
    x = torch.stack([ramp + 10 * i for i in range(bs)])[:, None]          # sample i: a left-right ramp offset by 10·i
    torch.manual_seed(0)
    (xm,), _, m = ResizeMix().mix((x,), (torch.arange(bs),))
    rows, lo, hi = m.paste
    assert torch.equal(rows, torch.arange(bs))
    for i in range(bs):
        (y0, x0), (y1, x1) = lo[i].tolist(), hi[i].tolist()
        box = xm[i, 0, y0:y1, x0:x1]
        j = int(m.perm[i])
        assert ((box - 10 * j) >= -1e-5).all() and ((box - 10 * j) <= 1 + 1e-5).all()   # the partner's values, all of them
        if x1 - x0 > 2:
            assert (box.diff(dim=1) > 0).all()                            # a full ramp across the box, shrunk
            assert box[:, 0].max() - 10 * j < .5 / (x1 - x0) * 2 and box[:, -1].min() - 10 * j > 1 - 1 / (x1 - x0)
        outside = torch.ones(H, W, dtype=torch.bool); outside[y0:y1, x0:x1] = False
        assert torch.equal(xm[i, 0][outside], x[i, 0][outside])
        assert m.lam[i] == outside.float().mean()
    torch.testing.assert_close(paste_resized(x, torch.tensor([[0, 0]] * bs), torch.tensor([[H, W]] * bs)), x)   # the whole box: itself

def _interpolated(x, lo, hi, src_rows):
    "The reference ResizeMix paste, one image at a time: F.interpolate of the whole partner to its box's size"
    mode = {1: 'linear', 2: 'bilinear', 3: 'trilinear'}[lo.shape[1]]
    out = x.clone()
    for i in range(len(lo)):
        box = tuple(slice(a, b) for a, b in zip(lo[i].tolist(), hi[i].tolist()))
        out[(i, slice(None), *box)] = F.interpolate(x[src_rows[i]][None], size=tuple(b.stop - b.start for b in box), mode=mode, align_corners=False)[0]
    return out

@pytest.mark.parametrize('shape,layout', [((40, 3, 64, 48), 'first'), ((40, 3, 64, 48), 'last'), ((5, 2, 30, 20), 'first'), ((40, 2, 90), 'first'), ((40, 2, 12, 10, 8), 'first'), ((40, 3, 64, 48), 'one window')])
def test_resize_into_gradients_are_interpolates(shape, layout, monkeypatch):
    # gradients flow through the paste (ManifoldMix(mask=ResizeMix()) mixes features): to the partner's pixels each box
    # shows, once each, and to the sample's own pixels outside its box; the same as F.interpolate's, image by image
    from fastmix import shapes
    monkeypatch.setattr(shapes, '_CHUNK_BYTES', 4 * math.prod(shape[1:]) * 8)    # groups of 8 images: several windows
    if layout == 'one window': monkeypatch.setattr(shapes, '_HOST_WINDOWS', False)
    torch.manual_seed(0)
    n, sp = shape[0], shape[2:]
    _, lo, hi = ResizeMix().draw(n, sp).paste
    src_rows, w = torch.randperm(n), torch.randn(shape)
    grads = []
    for f in (_interpolated, lambda x, lo, hi, s: shapes.resize_into(x.clone(), x, lo, hi, src_rows=s)):
        x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
        if layout == 'last': x = x.contiguous(memory_format=torch.channels_last)
        x.requires_grad_()
        out = f(x, lo, hi, src_rows)
        (out * w).sum().backward()
        grads.append((out.detach(), x.grad))
    torch.testing.assert_close(grads[1][0], grads[0][0], atol=1e-4, rtol=1e-4)   # float32 rounding of the taps' weights
    torch.testing.assert_close(grads[1][1], grads[0][1], atol=1e-4, rtol=1e-4)

def test_resizemix_label_maps_follow_the_image():
    bs, H, W = 6, 24, 24
    seg = torch.randint(0, 7, (bs, H, W))
    x = seg[:, None].float()                                             # the image shows its labels
    torch.manual_seed(3)
    (xm,), (ym, segm), m = ResizeMix().mix((x,), (torch.arange(bs), seg))
    assert segm.dtype == seg.dtype and m.routes == ('weigh', 'cut')
    rows, lo, hi = m.paste
    want = paste_resized(seg[m.perm], lo, hi, nearest=True, channels=False)
    keep = m.mask[:, 0] == 1
    assert torch.equal(segm, torch.where(keep, seg, want))
    # labels only from the partner's own label set
    for i in range(bs): assert set(segm[i][~keep[i]].unique().tolist()) <= set(seg[int(m.perm[i])].unique().tolist())

@pytest.mark.parametrize('cls', [GridMix, SaliencyMix])
def test_cut_label_maps_follow_the_image_exactly(cls):
    (x,), y = labelled(6, (20, 20)), torch.arange(6)
    seg = x[:, 0].long() * 3                                              # each sample's label map says whose it is
    torch.manual_seed(0)
    (xm,), (_, segm), m = cls().mix((x,), (y, seg))
    assert torch.equal(segm, xm[:, 0].long() * 3)

def test_saliencymix_box_covers_the_partners_salient_spot():
    bs, H, W = 8, 48, 48
    x = torch.full((bs, 3, H, W), .3)
    spots = torch.stack([torch.randint(4, H - 4, (bs,)), torch.randint(4, W - 4, (bs,))], 1)
    for i, (r, c) in enumerate(spots.tolist()): x[i, :, r - 1:r + 2, c - 1:c + 2] = 1.   # a small bright spot on a flat image
    found = salient_points(x)
    assert ((found - spots).abs() <= 2).all(), (found, spots)
    torch.manual_seed(0)
    _, _, m = SaliencyMix(alpha=2.).mix((x,), (torch.arange(bs),))
    for i in range(bs):
        r, c = spots[int(m.perm[i])].tolist()
        if m.lam[i] < .95: assert m.mask[i, 0, r, c] == 0, i              # the partner's spot is in the pasted box

def test_linear_shrink_by_phases_is_the_gather_bit_for_bit():
    "Where a linear shrink's taps repeat (224 to 64: pixels 1 and 4 of every 7), its strided blends give exactly the gathered taps' result"
    from fastmix.shapes import _lerp_taps, _linear_taps, _phases
    assert _phases(224, 64) == (7, [1, 4], [.25, .75]) and _phases(150, 64) is None
    for S, size in [(224, 64), (96, 64), (256, 64), (200, 64), (150, 64), (100, 64)]:
        for dim, shape in [(2, (3, 5, S)), (1, (3, S, 7)), (1, (2, S))]:
            t = torch.randn(shape)
            i0, i1, w = _linear_taps(S, size)
            a, b = t.index_select(dim, torch.tensor(i0 + i1)).split(size, dim)
            want = torch.lerp(a, b, torch.tensor(w).view(-1, *[1] * (t.ndim - 1 - dim)))
            assert torch.equal(_lerp_taps(t, dim, size), want), (S, size, dim)

def test_saliency_of_large_images_shrinks_linearly_and_finds_the_spot():
    "Past 64 pixels a side the grey image is resized as OpenCV's spectral residual resizes it (linear, pixel centres); a small spot still shows"
    from fastmix.shapes import _grey_shrunk
    for shape, mode in [((3, 3, 224, 200), 'bilinear'), ((30, 3, 150, 100), 'bilinear'), ((2, 1, 150), 'linear'), ((2, 2, 8, 70, 90), 'trilinear')]:
        x = torch.randn(shape, dtype=torch.float64)
        small = tuple(min(s, 64) for s in shape[2:])
        want = F.interpolate(x, size=small, mode=mode, align_corners=False).mean(1, keepdim=True).float()
        assert torch.allclose(_grey_shrunk(x, small), want, atol=1e-5)
    torch.manual_seed(0)
    bs, H, W = 6, 224, 200
    x = torch.full((bs, 3, H, W), .3)
    spots = torch.stack([torch.randint(8, H - 8, (bs,)), torch.randint(8, W - 8, (bs,))], 1)
    for i, (r, c) in enumerate(spots.tolist()): x[i, :, r - 2:r + 2, c - 2:c + 2] = 1.
    assert ((salient_points(x) - spots).abs() <= 6).all()                   # a working pixel is 3.5 and 3.1 image pixels here

def test_gridmix_takes_whole_cells():
    torch.manual_seed(0)
    x = torch.randn(8, 3, 16, 16)
    _, _, m = GridMix(grid=(4, 4)).mix((x,), (torch.arange(8),))
    cells = m.mask[:, 0].view(8, 4, 4, 4, 4)                              # (n, row cell, row, col cell, col)
    assert (cells.amax((2, 4)) == cells.amin((2, 4))).all()
    assert set(m.mask.unique().tolist()) <= {0., 1.}

@pytest.mark.parametrize('cls', NEW)
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16, torch.float32])
def test_edge_cases(cls, dtype):
    x = torch.randn(5, 3, 13, 17).to(dtype); x0 = x.clone(); y = torch.arange(5)
    (xm,), (ym,), m = cls().mix((x,), (y,))
    assert torch.equal(x, x0) and xm is not x and xm.dtype == dtype and m.lam.dtype == torch.float32
    assert torch.isfinite(xm.float()).all() and ((m.lam >= 0) & (m.lam <= 1)).all()
    (x1,), _, m1 = cls().mix((x[:1],), (y[:1],))                         # one sample: nobody to mix with
    assert x1 is x[:1] or torch.equal(x1, x[:1]); assert torch.equal(m1.lam, torch.ones(1))
    (xb,), _, mb = cls(mode='batch').mix((x,), (y,))
    assert mb.lam.shape == (5,) and (mb.lam == mb.lam[0]).all()
    (xp,), _, mp = cls(p=.5).mix((x,), (y,))
    assert ((mp.lam == 1) | (mp.lam < 1)).all()

def test_arguments_checked_at_construction():
    for bad, msg in [(lambda: ResizeMix(scale=(.9, .2)), "ResizeMix: `scale` must have lo <= hi"),
                     (lambda: ResizeMix(scale=(0, .5)), "ResizeMix: `scale`"),
                     (lambda: GridMix(grid=(0, 4)), "GridMix: `grid`"), (lambda: GridMix(grid=(2.5, 4)), "GridMix: `grid`"),
                     (lambda: SmoothMix(shape='blob'), "SmoothMix: `shape`"), (lambda: SmoothMix(edge=0), "SmoothMix: `edge`"),
                     (lambda: SmoothMix(sizing='clipped'), "SmoothMix: `sizing`"),
                     (lambda: OneOfMix(CutMix(), sizing='exact'), "OneOfMix: `sizing` belongs to each method"),
                     (lambda: SaliencyMix(size=2), "SaliencyMix: `size`"), (lambda: SaliencyMix(0.), "SaliencyMix: `alpha`"),
                     (lambda: OneOfMix(CutMix(), grid=(2, 3)), "OneOfMix: `grid` belongs to each method")]:
        with pytest.raises((TypeError, ValueError), match=msg.replace('(', r'\(').replace(')', r'\)')): bad()
    assert repr(ResizeMix()) == "ResizeMix(alpha=1.0, scale=(0.1, 0.8), max_lam=False, mode='elem')"

def test_oneofmix_with_all_seven_methods():
    torch.manual_seed(0)
    seven = OneOfMix(MixUp(), CutMix(), FMix(), ResizeMix(), SaliencyMix(), GridMix(), SmoothMix())
    assert seven.needs_partner and not seven.hard_masks
    x, y = torch.rand(64, 3, 16, 16), torch.arange(64)
    seg = torch.randint(0, 4, (64, 16, 16))
    (xm,), (ym, sm), m = seven.mix((x,), (y, seg))
    assert set(m.choice.tolist()) == set(range(7))
    torch.testing.assert_close(m.lam, m.mask.float().flatten(1).mean(1))
    rows = m.paste[0]
    assert torch.equal(rows.sort().values, (m.choice == 3).nonzero()[:, 0])   # the ResizeMix rows, and only them
    torch.manual_seed(0)
    _, (sm,), m = seven.mix((x,), (seg,))                                # label maps alone: weighed pixel by pixel
    assert m.routes == ('weigh',) and torch.equal(sm, seg)
    pred = torch.randn(64, 4, 16, 16, requires_grad=True)
    lf = torch.nn.CrossEntropyLoss(reduction='none')
    loss = m.loss(torch.nn.CrossEntropyLoss(), pred); loss.backward()
    partner = m.partner_yb[0]                                             # ResizeMix rows: the partner's map, resized
    r, lo, hi = m.paste
    outside = corner_masks(lo, hi, (16, 16))[0][:, 0] >= .5                # in the box the partner's map resized, outside it as it is
    want = torch.where(outside, seg[m.perm][r], paste_resized(seg[m.perm][r], lo, hi, nearest=True, channels=False))
    assert torch.equal(partner[r], want) and torch.equal(partner[m.choice != 3], seg[m.perm][m.choice != 3])
    w = m.mask[:, 0]
    torch.testing.assert_close(loss, (w * lf(pred, seg) + (1 - w) * lf(pred, partner)).mean())
    assert pred.grad is not None

def test_two_resizemix_in_oneofmix_paste_each_row_into_its_own_box():
    "Rows pasted by two methods come back in the methods' order, not the batch's: each row still gets its own box"
    bs, H, W = 16, 24, 24
    ramp = torch.linspace(0, 1, W).expand(H, W)
    x = torch.stack([ramp + 10 * i for i in range(bs)])[:, None]
    torch.manual_seed(2)
    (xm,), _, m = OneOfMix(ResizeMix(scale=(.2, .3)), ResizeMix(scale=(.6, .7))).mix((x,), (torch.arange(bs),))
    rows, lo, hi = m.paste
    assert len(rows) == bs and not torch.equal(rows, torch.arange(bs))   # both methods used: rows out of batch order
    for r, l, h in zip(rows.tolist(), lo.tolist(), hi.tolist()):
        outside = torch.ones(H, W, dtype=torch.bool); outside[l[0]:h[0], l[1]:h[1]] = False
        assert torch.equal(xm[r, 0][outside], x[r, 0][outside])
        box, j = xm[r, 0, l[0]:h[0], l[1]:h[1]], int(m.perm[r])
        assert ((box - 10 * j) > -1e-5).all() and ((box - 10 * j) < 1 + 1e-5).all()

@pytest.mark.parametrize('shape', ['circle', 'square'])
@pytest.mark.parametrize('alpha', [.5, 1.])
def test_smoothmix_realised_lam_follows_beta(alpha, shape):
    "The third week's item 4: the partner covers the drawn share, so the realised λ (each mask's mean) is Beta(α, α)"
    from scipy import stats
    torch.manual_seed(0)
    m = SmoothMix(alpha, shape=shape)
    lam = torch.cat([m.draw(1000, (32, 32)).lam for _ in range(4)])
    assert stats.kstest(lam.double().numpy(), stats.beta(alpha, alpha).cdf).pvalue > .01
    assert float(lam.min()) < .01 and float(lam.max()) > .99              # the partner can cover (almost) all of it
    drawn = m.draw_lam(500)
    assert (shapes_lam(drawn, shape) - drawn).abs().max() < 1e-4            # each mask realises the λ drawn for it

def shapes_lam(lam, shape):
    from fastmix.shapes import smooth_masks
    for spatial in [(32, 32), (40,), (6, 20, 9)]: assert (smooth_masks(lam, spatial, shape=shape)[1] - lam).abs().max() < 1e-4
    return smooth_masks(lam, (17, 23), shape=shape)[1]

def test_smoothmix_unclipped_keeps_the_old_behaviour():
    "sizing='unclipped' is the SmoothMix before the fix: the border clips the blob, λ averages about 0.72 whatever α"
    from scipy import stats
    torch.manual_seed(0)
    means = []
    for alpha in (.5, 1.):
        lam = SmoothMix(alpha, sizing='unclipped').draw(4000, (32, 32)).lam
        assert float(lam.min()) > .3 and stats.kstest(lam.double().numpy(), stats.beta(alpha, alpha).cdf).pvalue < 1e-6
        means.append(float(lam.mean()))
    assert all(.69 < v < .75 for v in means), means
    assert repr(SmoothMix(sizing='unclipped')).startswith("SmoothMix(alpha=1.0, shape='circle', sizing='unclipped'")

@pytest.mark.parametrize('mode', ['elem', 'batch'])
def test_resizemix_rows_that_stay_are_their_own_image(mode):
    "With p < 1 the rows that are not mixed come back exactly as they were (the paste is not written into them)"
    torch.manual_seed(0)
    x, seg = torch.rand(32, 3, 20, 20), torch.randint(0, 5, (32, 20, 20))
    (xm,), (sm,), m = ResizeMix(p=.5, mode=mode).mix((x,), (seg,))
    stay = m.lam == 1
    if mode == 'elem': assert 0 < stay.sum() < 32
    assert m.routes == ('cut',) and torch.equal(xm[stay], x[stay]) and torch.equal(sm[stay], seg[stay])   # label maps cut as the images
    if (~stay).any(): assert (xm[~stay] != x[~stay]).flatten(1).any(1).all()   # every mixed row changed

def test_resizemix_paste_matches_interpolate_in_the_mix():
    "Each mixed row: its own pixels outside the box, its partner shrunk by F.interpolate (bilinear) inside, for a channels-last batch too"
    torch.manual_seed(1)
    x = torch.randn(12, 3, 30, 42)
    for xb in (x, x.contiguous(memory_format=torch.channels_last)):
        torch.manual_seed(2)
        (xm,), _, m = ResizeMix().mix((xb,), (torch.arange(12),))
        assert xm.is_contiguous(memory_format=torch.channels_last) == (xb is not x)
        rows, lo, hi = m.paste
        for i in range(12):
            (a, b), (c, d) = lo[i].tolist(), hi[i].tolist()
            want = F.interpolate(x[m.perm[i]][None], size=(c - a, d - b), mode='bilinear', align_corners=False)[0]
            torch.testing.assert_close(xm[i, :, a:c, b:d], want, atol=1e-4, rtol=0)
            inside = torch.zeros(30, 42, dtype=torch.bool); inside[a:c, b:d] = True
            assert torch.equal(xm[i][:, ~inside], x[i][:, ~inside])

def test_oneofmix_rows_that_stay_are_their_own_image_with_resizemix():
    "OneOfMix with ResizeMix among its methods and p < 1: every unmixed row, pasted or not, comes back as it was"
    torch.manual_seed(3)
    x = torch.rand(48, 3, 16, 16)
    (xm,), _, m = OneOfMix(ResizeMix(), CutMix(), p=.5).mix((x,), (torch.arange(48),))
    stay = m.lam == 1
    pasted = torch.zeros(48, dtype=torch.bool); pasted[m.paste[0]] = True
    assert (stay & pasted).any() and (stay & ~pasted).any()
    assert torch.equal(xm[stay], x[stay]) and (xm[~stay] != x[~stay]).flatten(1).any(1).all()

@pytest.mark.parametrize('kw', [{}, dict(p=.5), dict(regmix=1.)])
def test_resizemix_masks_are_made_when_read(kw):
    "ResizeMix's mix never reads its masks: the record holds how to make them, and makes them on the first read (the same masks, λ their means); it pickles"
    import pickle
    from fastmix.mixing import Mixed
    torch.manual_seed(4)
    x = torch.rand(16, 3, 20, 24)
    (xm,), _, m = ResizeMix(**kw).mix((x,), (torch.arange(16),))
    assert callable(Mixed.mask.given(m))                                   # not made by the mix
    rows, lo, hi = m.paste
    want = torch.where((m.lam == 1)[:, None, None, None], 1., corner_masks(lo, hi, (20, 24))[0])
    m2 = pickle.loads(pickle.dumps(m))
    assert torch.equal(m.mask, want) and torch.equal(m2.mask, want) and torch.equal(m.mask.mean((1, 2, 3)), m.lam)
    assert Mixed.mask.given(m) is m.mask                                    # made once, then kept
    if kw.get('regmix'): assert torch.equal(m.clean.mask, torch.ones(1, 1, 20, 24))
