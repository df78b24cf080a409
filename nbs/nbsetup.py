"The set-up every fastmix notebook shares, run by its first hidden cell (`%run nbsetup.py`): no warnings that are not ours, light pictures."
import warnings
warnings.filterwarnings('ignore', category=FutureWarning)                          # torch's notice about torch.jit, seen by fastai
warnings.filterwarnings('ignore', message='The given NumPy array is not writable')  # pandas' read-only views, seen by fastai
warnings.filterwarnings('ignore', message='load_learner')                            # fastai's notice that pickles can run code
warnings.filterwarnings('ignore', message='IProgress not found')                     # tqdm's notice outside Jupyter's widgets, seen by fastai's import
import matplotlib.pyplot as plt
plt.rcParams.update({'figure.dpi': 72, 'savefig.dpi': 72})    # light pictures: the notebooks are the docs (each under 1 MB)
try:                                                            # inside a notebook: 1x PNG pictures, not retina
    from matplotlib_inline.backend_inline import set_matplotlib_formats
    set_matplotlib_formats('png')
except Exception: pass
