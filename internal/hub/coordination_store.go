package hub

// coordinationReader and coordinationTx hold the store methods of
// commands, channels, signals, proposals, leases and shared state.
type coordinationReader interface{}

type coordinationTx interface{}
