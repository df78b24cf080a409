"""TransMix (issue 36): CutMix's boxes, each row's λ the share of a ViT's class-token attention (last block, heads
averaged) on the patches it keeps. The attention against the matrix the block itself forms (fused attention off), λ
against a per-patch loop, every batch's loss in a `Learner.fit`, the plain loop (with RegMixup), the command's small
ViT, and the refusals."""
import pytest, torch
import torch.nn.functional as F
from torch import nn
from fastai.data.core import DataLoaders
from fastai.learner import Learner
timm = pytest.importorskip('timm')
from fastmix import methods
from fastmix.attention import cls_attention, attention_lam, class_attention, vit_parts
from fastmix.callbacks import TransMix, CutMix, MixUp, OneOfMix, as_callback
from fastmix.manifold import ManifoldMix
from fastmix.mixing import METHODS
from fastmix.demo import small_vit
from test_loss_contract import Seen

def tiny_vit(qk_norm=False, reg_tokens=0):
    torch.manual_seed(0)
    m = timm.create_model('vit_tiny_patch16_224', pretrained=False, img_size=16, patch_size=4, embed_dim=32, depth=2, num_heads=2,
                          num_classes=4, qk_norm=qk_norm, reg_tokens=reg_tokens)
    m.blocks[-1].attn.fused_attn = False              # so that the block forms the attention matrix, and hands it to attn_drop
    return m

class BlockAttention:
    "The attention matrix the last block computes, as its attn_drop receives it (B, heads, N, N)"
    def __init__(self, model): self.h = model.blocks[-1].attn.attn_drop.register_forward_hook(self); self.a = None
    def __call__(self, mod, args, out): self.a = args[0].detach()

def lam_by_hand(mask, a, n_prefix, patch=4):
    "λ per row from the class token's row of the matrix, patch by patch"
    w = a.mean(1)[:, 0, n_prefix:]                    # heads averaged, the class token's row, the patches
    B, g = len(w), mask.shape[-1] // patch
    out = []
    for i in range(B):
        mi = mask[i if len(mask) > 1 else 0, 0]
        keep = torch.tensor([float(mi[r * patch:(r + 1) * patch, c * patch:(c + 1) * patch].mean()) for r in range(g) for c in range(g)])
        out.append((w[i] * keep).sum() / w[i].sum())
    return torch.stack(out)

@pytest.mark.parametrize('qk_norm,reg_tokens', [(False, 0), (True, 0), (False, 2)])
def test_the_class_token_attention_is_the_block_s_own(qk_norm, reg_tokens):
    vit = tiny_vit(qk_norm, reg_tokens).eval()
    seen = BlockAttention(vit)
    with class_attention(vit) as att: vit(torch.randn(3, 3, 16, 16))
    n_prefix = 1 + reg_tokens
    assert vit_parts(vit).n_prefix == n_prefix and att.weights.shape == (3, 16)
    assert torch.allclose(att.weights, seen.a.mean(1)[:, 0, n_prefix:], atol=1e-6)

def test_lam_is_the_attention_on_the_kept_patches():
    torch.manual_seed(0)
    mask = (torch.rand(5, 1, 16, 16) > .3).float()
    a = torch.rand(5, 2, 17, 17).softmax(-1)
    assert torch.allclose(attention_lam(mask, a.mean(1)[:, 0, 1:], (4, 4)), lam_by_hand(mask, a, 1), atol=1e-6)

def vit_dls(n=64, size=16):
    torch.manual_seed(0)
    items = [(torch.randn(3, size, size), torch.tensor(i % 4)) for i in range(n)]
    return DataLoaders.from_dsets(items, items[:16], bs=16, device='cpu')

def test_every_batch_is_weighed_by_the_attention():
    vit = tiny_vit()
    cb = TransMix(1., p=.5)
    seen, block = Seen(cb), BlockAttention(vit)
    grabbed = []
    class Grab(Seen):
        def before_backward(self): grabbed.append(block.a)
    learn = Learner(vit_dls(), vit, F.cross_entropy, cbs=[cb, seen, Grab(cb)])
    learn.fit(2)
    assert len(seen.seen) == 2 * len(learn.dls.train)
    for (loss, m, pred), a in zip(seen.seen, grabbed):
        lam = lam_by_hand(m.mask, a, 1)
        assert torch.allclose(m.lam, lam, atol=1e-5)
        assert ((m.lam == 1) | (m.mask.flatten(1).mean(1) < 1)).all()           # rows left unmixed keep λ = 1
        y = m.yb[0]
        want = (lam * F.cross_entropy(pred, y, reduction='none') + (1 - lam) * F.cross_entropy(pred, y[m.perm], reduction='none')).mean()
        assert torch.allclose(loss, want, atol=1e-5)
    assert cb._stack is None and not vit.blocks[-1].attn.qkv._forward_hooks          # no hook left behind
    assert cb.stats and 0 < cb.stats[-1]['mix_lam'] < 1

def test_the_plain_loop_and_regmix():
    vit = tiny_vit()
    block = BlockAttention(vit)
    x, y = torch.randn(6, 3, 16, 16), torch.arange(6) % 4
    xb, yb, m = methods.TransMix(1., regmix=1.).mix((x,), (y,))
    assert torch.allclose(m.lam, m.mask.flatten(1).mean(1))                         # before the forward pass: the area
    with class_attention(vit) as att: pred = vit(*xb)
    r = att.relabel(m)
    assert torch.allclose(r.lam, lam_by_hand(m.mask, block.a[6:], 1), atol=1e-5)    # the mixed half's attention
    assert r.clean is m.clean and r.mask is m.mask and torch.isfinite(r.loss(F.cross_entropy, pred))

def test_transmix_is_a_registered_method_with_the_command_s_small_vit():
    assert METHODS['transmix'] is methods.TransMix and as_callback('transmix') is TransMix
    assert repr(TransMix(.5)) == "TransMix(alpha=0.5, max_lam=False, mode='elem')"
    from fastmix.cli import settings, compare
    assert type(settings(transmix=1.)['TransMix(1)']()) is TransMix
    vit = small_vit(1, 10, 16, 4, 64, 2)
    assert vit_parts(vit).patch == (4, 4) and vit(torch.randn(2, 1, 16, 16)).shape == (2, 10)
    rows = compare(log=lambda *a: None, data='digits', arch='vit_p4_w32', transmix=1., epochs=1, seeds=1, limit=128, bs=32,
                   label_noise='0', quiet=True)
    assert [r['setting'] for r in rows] == ['none', 'TransMix(1)']

def test_transmix_is_refused_where_it_cannot_work():
    learn = Learner(vit_dls(), nn.Sequential(nn.Flatten(), nn.Linear(768, 4)), F.cross_entropy, cbs=TransMix())
    with pytest.raises(ValueError, match=r"TransMix: the model \(Sequential\) has no class token"): learn.fit(1)
    with pytest.raises(TypeError, match=r"OneOfMix: TransMix\(.*\) takes λ from the model's forward pass"): OneOfMix(TransMix(), CutMix())
    with pytest.raises(ValueError, match=r"ManifoldMix: TransMix takes λ from the model's attention"): ManifoldMix(mask=TransMix())
    vit = tiny_vit()
    m = methods.TransMix().mix((torch.randn(4, 3, 16, 16),), (torch.arange(4),))[2]
    with class_attention(vit) as att: vit(torch.randn(4, 3, 16, 16))
    m.mask = m.mask[..., :12, :12]                                                   # a record of another size
    with pytest.raises(ValueError, match=r"TransMix: the model attends to 16 patches, and a \(12, 12\) input makes 3x3"): att.relabel(m)
