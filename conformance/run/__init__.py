"""The judge's pipeline, one way: stage the world, drive the resolver, judge the observations."""
