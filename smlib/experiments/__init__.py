"""One recipe per chapter, named after it, each with its typed configuration (:mod:`smlib.config`):

- :mod:`~smlib.experiments.spectral_bias`   chapter 1, Prop. 3.1
- :mod:`~smlib.experiments.rmsc_identity`   chapter 2, Prop. 3.2
- :mod:`~smlib.experiments.latent_spectra`  chapter 3, latent spectra
- :mod:`~smlib.experiments.autoencoders`    chapter 4, the autoencoder lab
- :mod:`~smlib.experiments.diffusability`   chapter 5, diffusability
- :mod:`~smlib.experiments.repa`            chapter 6, REPA, iREPA and DoG-REPA
- :mod:`~smlib.experiments.dctdiff`         chapter 7, DCTdiff and the ladder from pixels to DCT tokens
- :mod:`~smlib.experiments.spectral_regularisation`  chapter 8, Fourier and wavelet terms on the diffusion loss
"""
