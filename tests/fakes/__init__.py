"""HTTP fakes the test suite starts on 127.0.0.1: the code under test is configured by URL."""
