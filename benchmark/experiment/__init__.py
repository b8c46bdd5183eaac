"""One experiment as data: a plan of runs (:mod:`.plan`), one function that executes a planned run end to end
(:mod:`.execute`), executors that run a plan here, in parallel processes or on a cluster (:mod:`.executors`),
the locks that let many processes share one results directory (:mod:`.lock`), and the collection of the
oracle, tables and report (:mod:`.collect`)."""
