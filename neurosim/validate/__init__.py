"""Validation against references outside neurosim (issue 12): SANA-FE's silicon-calibrated Loihi model run on the
same networks at the same prices (:mod:`.networks`, :mod:`.compare`, the SANA-FE side :mod:`.sanafe_runner` in its
own environment), and published system peaks as bounds (:mod:`.bounds`)."""
