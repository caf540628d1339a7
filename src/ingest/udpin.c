/* Being written: see the module header. */
