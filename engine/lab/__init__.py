"""Built on train and store: experiments from the literature (recipes of runs and the measures computed from
them) and sweeps (a base spec over a grid of overrides). Imports everything below the public API."""
