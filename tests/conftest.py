import matplotlib

matplotlib.use("Agg")  # tests draw plots without a screen
