import matplotlib

matplotlib.use("Agg")  # tests draw plots without a screen

import torch

# The tests build many tiny networks; on a 2-core CI machine a second intra-op thread mostly waits for the first,
# and when the cores are shared it made a supernet's forward-backward 50x slower. Notebooks choose for themselves.
torch.set_num_threads(1)
