"""One place per method (issue 35): a method defined outside fastmix, registered, works everywhere fastmix's own do; the one drawing hook
and its record; the hooks of 0.1 and 0.2 still drawn from, with a warning"""
import warnings
import matplotlib; matplotlib.use('Agg')
import matplotlib.pyplot as plt
import pytest, torch
import torch.nn.functional as F
from fastai.learner import Learner
from fastmix import mixing
from fastmix.mixing import BetaMixer, Mixer, Draw, OneOfMix, register, own_args, METHODS
from fastmix.methods import CutMix, ResizeMix, MixUp
from fastmix.callbacks import as_callback, MixHandler, mix_metrics
import fastmix.callbacks as callbacks
from fastmix.demo import small_cnn
from helpers import images
from test_loss_contract import dls_of
from test_function_losses import fit_and_check

class Stripes(BetaMixer):
    "The partner through vertical (or horizontal) stripes, as many columns as 1-λ asks for: a method in a dozen lines"
    needs_spatial = hard_masks = True
    def __init__(self, alpha:float=1., vertical:bool=True, **kwargs):
        super().__init__(alpha, **kwargs)
        self.vertical = vertical
    def _own_args(self): return dict(vertical=self.vertical)
    def draw_masks(self, lam, spatial, dtype):
        side = spatial[-1] if self.vertical else spatial[-2]
        k = ((1 - lam) * side).round()                                  # columns taken from the partner
        pos = torch.arange(side, device=lam.device).view(1, -1)
        order = (pos * 7919) % side                                     # spread over the image, not one block
        take = order < k[:, None]                                       # (n, side)
        m = (~take).to(dtype).view(len(lam), 1, *([1] * (len(spatial) - 1)), side) if self.vertical else \
            (~take).to(dtype).view(len(lam), 1, side, 1)
        m = m.expand(len(lam), 1, *spatial).contiguous()
        return m, m.flatten(1).float().mean(1)

class Halves(Mixer):
    "A method that draws no λ: the left half of every partner, a `Mixer` defining `draw` itself"
    needs_spatial = hard_masks = True
    def __init__(self, alpha:float=1., **kwargs): super().__init__(**kwargs); self.alpha = alpha
    def draw(self, n, spatial, dtype=torch.float32, device=None, pct_train=0., partner=None):
        m = torch.ones(n, 1, *spatial, dtype=dtype, device=device); m[..., :spatial[-1] // 2] = 0
        return Draw(m, m.flatten(1).float().mean(1))

@pytest.fixture
def stripes():
    "Stripes and Halves registered for one test, then taken out of the registry (and their callbacks forgotten)"
    register(Stripes); register(Halves, name='halves', help='(the left half)')
    yield Stripes
    for k in ('stripes', 'halves'): METHODS.pop(k, None)
    for c in (Stripes, Halves): callbacks._TWINS.pop(c, None)

def test_a_registered_method_has_a_name_its_arguments_and_a_callback(stripes):
    assert METHODS['stripes'] is Stripes and Stripes.method_name == 'stripes' and METHODS['halves'] is Halves
    assert own_args(Stripes) == ('alpha', 'vertical') and own_args(CutMix) == ('alpha', 'minmax', 'max_lam')
    cb = as_callback('stripes')
    assert issubclass(cb, Stripes) and issubclass(cb, MixHandler) and as_callback(Stripes) is cb    # made once
    assert as_callback('cutmix') is callbacks.CutMix and as_callback(callbacks.CutMix) is callbacks.CutMix
    assert repr(cb(.5, vertical=False)) == "Stripes(alpha=0.5, vertical=False, max_lam=False, mode='elem')"
    with pytest.raises(TypeError, match=r"OneOfMix: `vertical` belongs to each method"): OneOfMix(MixUp(), Stripes(), vertical=False)
    import pickle
    back = pickle.loads(pickle.dumps(cb(.5, vertical=False)))                        # pickles as itself, as fastmix's own do
    assert type(back) is cb and back.alpha == .5 and back.vertical is False

def test_a_registered_method_trains_as_a_callback_and_inside_oneofmix(stripes):
    "The loss of every batch is the one computed by hand from the record (helpers of the function-loss tests)"
    ce = {}                                                                            # F.cross_entropy's keywords: none
    lf = torch.nn.CrossEntropyLoss()
    seen = fit_and_check(as_callback('stripes')(1., p=.5), dls_of('class', 64), small_cnn(1, 10), lf, ce)
    m = next(m for _, m, _ in seen.seen if m is not None and m.shift)
    assert torch.allclose(m.lam, m.mask.flatten(1).float().mean(1))                  # λ is the mask's mean
    assert ((m.mask == 0) | (m.mask == 1)).all() and (m.lam < 1).any()
    one = callbacks.OneOfMix(Stripes(), Halves(), CutMix(), probs=[1, 1, 1])
    seen = fit_and_check(one, dls_of('class', 64), small_cnn(1, 10), lf, ce)
    assert one.method_names == ['Stripes', 'Halves', 'CutMix']
    chosen = torch.cat([m.choice for _, m, _ in seen.seen if m is not None and m.choice is not None])
    assert set(chosen.tolist()) == {0, 1, 2}
    halves = torch.cat([m.lam[m.choice == 1] for _, m, _ in seen.seen if m is not None and m.choice is not None])
    assert torch.allclose(halves, torch.full_like(halves, .5))

def test_a_registered_method_in_the_viewer_and_the_plots(stripes):
    from fastmix.show import show_mixed, lam_plot, mask_gallery
    dls = dls_of('class', 16)
    axs = show_mixed(dls, cb=Stripes(), max_n=4)
    assert sum(1 for a in axs if a.images) == 4
    fig = lam_plot(cls='stripes', alphas=(1.,), n=500, spatial=(16, 16))
    assert 'Stripes' in fig.axes[0].get_title() and 'realised at 16x16' in fig.axes[0].get_title()
    fig2 = mask_gallery('stripes', lams=(.25, .75), spatial=(8, 8))
    assert len(fig2.axes) == 2 and [a.get_title() for a in fig2.axes] == ['λ=0.25', 'λ=0.75']
    fig3 = mask_gallery('halves', lams=(.3, .6), spatial=(8, 8))                        # no λ drawn: one draw per column
    assert [a.get_title() for a in fig3.axes] == ['λ=0.50', 'λ=0.50']
    plt.close('all')
    with pytest.raises(ValueError, match="mask_gallery: `method` must be a registered method, one of mixup, cutmix"): mask_gallery('nope')

def test_a_registered_method_is_a_flag_of_the_command_and_of_compare(stripes):
    from fastmix.cli import parser, settings, compare, resolve
    p = parser()
    assert '--stripes ALPHA' in p.format_help() and 'compare Halves with this alpha (the left half)' in p.format_help()
    assert p.parse_args(['--stripes', '0.5']).stripes == .5
    assert list(settings(stripes=1., cutmix=.2)) == ['none', 'Stripes(1)', 'CutMix(0.2)', 'OneOfMix(Stripes, CutMix)']
    assert resolve(stripes=2.).stripes == 2.
    rows = compare(stripes=1., epochs=1, seeds=1, limit=64, label_noise='0', quiet=True, log=lambda *a: None)
    assert [r['setting'] for r in rows] == ['none', 'Stripes(1)'] and 0 <= rows[1]['valid_acc'] <= 1
    from fastmix.checks import BadInput
    with pytest.raises(BadInput, match="no mixing method --nope; the registered methods are mixup, cutmix"): settings(nope=1.)

def test_the_command_flags_follow_the_registry():
    "Every registered method is a flag (the seven built-in ones at least), with its help"
    from fastmix.cli import parser
    h = parser().format_help()
    for k, c in METHODS.items(): assert f'--{k} ALPHA' in h and f'compare {c.__name__} with this alpha' in h
    assert {'mixup', 'cutmix', 'fmix', 'gridmix', 'smoothmix', 'saliencymix', 'resizemix'} <= set(METHODS)

def test_register_refuses_what_cannot_be_a_method():
    with pytest.raises(TypeError, match="register: give a mixing method, a subclass of fastmix.mixing.Mixer"): register(int)
    with pytest.raises(TypeError, match="register: give a mixing method"): register(OneOfMix)
    class CutMix2(BetaMixer):
        def draw_masks(self, lam, spatial, dtype): return CutMix().draw_masks(lam, spatial, dtype)
    with pytest.raises(ValueError, match="register: 'cutmix' is already fastmix.methods.CutMix's name; give CutMix2 another with name="):
        register(CutMix2, name='cutmix')
    with pytest.raises(ValueError, match="must be a Python identifier"): register(CutMix2, name='cut-mix')
    class NoAlpha(Mixer):
        def draw(self, *a, **k): pass
    with pytest.raises(TypeError, match=r"register: NoAlpha's first argument must be `alpha` \(the command passes it\), got 'mode'"): register(NoAlpha)
    assert 'cutmix2' not in METHODS and 'noalpha' not in METHODS
    with pytest.raises(ValueError, match="no mixing method 'nope'; the registered ones are mixup"): as_callback('nope')

def test_the_one_hook_returns_a_draw():
    torch.manual_seed(0)
    d = CutMix().draw(6, (8, 8))
    assert isinstance(d, Draw) and d.mask.shape == (6, 1, 8, 8) and d.lam.shape == (6,) and d.choice is None and d.paste is None
    assert torch.allclose(d.lam, d.mask.flatten(1).mean(1))
    d = OneOfMix(MixUp(), ResizeMix()).draw(20, (8, 8))
    assert d.choice.shape == (20,) and d.paste is not None and torch.equal(d.paste[0], (d.choice == 1).nonzero()[:, 0])
    with pytest.raises(NotImplementedError, match="Halves must define `draw`"):
        class Halves(Mixer): pass
        Halves().mix((images(),), (torch.arange(8),))

def test_resizemix_draws_box_sizes_not_lam():
    "ResizeMix is a Mixer that draws a scale: its λ is what the box leaves; lam_plot shows that λ, realised"
    from fastmix.show import lam_plot
    assert not isinstance(ResizeMix(), BetaMixer) and isinstance(ResizeMix(), Mixer)
    torch.manual_seed(0); s = ResizeMix(scale=(.2, .6)).draw_scale(2000)
    assert .2 <= float(s.min()) and float(s.max()) <= .6 and abs(float(s.mean()) - .4) < .02        # uniform at alpha 1
    torch.manual_seed(0); s2 = ResizeMix(scale=(.2, .6), max_lam=True).draw_scale(2000)
    assert float(s2.max()) <= .4 + 1e-6                                                                  # smaller boxes only
    d = ResizeMix().draw(50, (32, 32))
    assert torch.allclose(d.lam, d.mask.flatten(1).mean(1)) and torch.equal(d.paste[0], torch.arange(50))
    with pytest.warns(DeprecationWarning, match=r"ResizeMix.draw_lam \(its draw is a box size, not λ\) is renamed `draw_scale`"):
        ResizeMix().draw_lam(3)
    with warnings.catch_warnings():
        warnings.simplefilter('error', DeprecationWarning)
        fig = lam_plot(cls=ResizeMix, alphas=(1.,), n=300)
    assert 'realised at 32x32' in fig.axes[0].get_title()
    plt.close('all')

def test_the_hooks_of_0_2_still_draw_and_warn():
    "A method written for 0.2's `draw_rows` or `draw_parts` is still drawn from; calling them, or unpacking `BetaMixer.draw`, warns"
    class Rows(Mixer):
        needs_spatial = True
        def draw_rows(self, n, spatial, dtype, device, pct_train=0.):
            m = torch.zeros(n, 1, *spatial, dtype=dtype); m[..., :2] = 1
            return m, m.flatten(1).mean(1), None
    class Parts(BetaMixer):
        needs_spatial = True
        def draw_parts(self, n, spatial, dtype, device, pct_train=0., partner=None):
            m = torch.ones(n, 1, *spatial, dtype=dtype); m[..., :3] = 0
            return m, m.flatten(1).mean(1), None
    for mixer, lam in ((Rows(), 2 / 10), (Parts(), 7 / 10), (OneOfMix(Parts()), 7 / 10)):
        with pytest.warns(DeprecationWarning, match=r"(Rows.draw_rows|Parts.draw_parts) is renamed `draw`, which returns a `Draw` since fastmix 0.2.1; the old name goes in 0.4"):
            _, _, mx = mixer.mix((images(),), (torch.arange(8),))
        assert torch.allclose(mx.lam, torch.full((8,), lam))
    with pytest.warns(DeprecationWarning, match="CutMix.draw_rows is renamed `draw`"):
        torch.manual_seed(0); m, l, ch, paste = CutMix().draw_rows(4, (8, 8), torch.float32, 'cpu')
    torch.manual_seed(0); d = CutMix().draw(4, (8, 8))
    assert torch.equal(m, d.mask) and torch.equal(l, d.lam) and ch is None and paste is None
    with pytest.warns(DeprecationWarning, match=r"unpacking `BetaMixer.draw\(...\)` as \(mask, lam\) is renamed its record's `.mask` and `.lam`"):
        mask, lam = CutMix().draw(4, (8, 8))
    assert mask.shape == (4, 1, 8, 8) and lam.shape == (4,)

def test_the_methods_moved_to_their_own_module_and_still_import_from_the_old_one():
    import fastmix.methods as methods
    with pytest.warns(DeprecationWarning, match=r"fastmix.mixing.GridMix moved to fastmix.methods.GridMix in fastmix 0.2.1: import it from there \(fastmix.mixing stops exporting it in 0.4\)"):
        from fastmix.mixing import GridMix
    with pytest.warns(DeprecationWarning, match="fastmix.mixing.SmoothMix moved"):
        assert GridMix is methods.GridMix and mixing.SmoothMix is methods.SmoothMix
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"): mixing.Nope

def test_the_command_table_of_0_2_warns():
    import fastmix.cli as cli
    with pytest.warns(DeprecationWarning, match="fastmix.cli.METHODS .* is replaced by the registry fastmix.mixing.METHODS"):
        got = cli.METHODS
    assert got['cutmix'] is callbacks.CutMix and set(got) == set(METHODS)          # 0.2's seven, and every method registered since
    assert {'mixup', 'cutmix', 'fmix', 'gridmix', 'smoothmix', 'saliencymix', 'resizemix'} <= set(got)
