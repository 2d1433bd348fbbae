"""Letters: turns a matched request into a DIN 5008 letter and a postal dispatch job, and follows it."""
