// The provider against a real vtokend (see run-wine-tests.sh): being written.
