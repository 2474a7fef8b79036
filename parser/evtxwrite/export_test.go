package evtxwrite

// Internals for the external tests of this package.
var SampleEvents = sampleEvents
