"""Small helpers that every layer uses: ``atomic`` (write a file whole or not at all), ``device``
(where and in what precision torch computes, decided once) and ``time_limit`` (a call the caller
stops waiting for)."""
