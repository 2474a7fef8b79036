// Package reports writes what an analysis leaves for people and for other
// tools: the case folder, and the timeline on its own.
//
// A Case is everything one analysis produced: what was read and how well,
// the timeline, the rules and the findings that passed the case's filters.
// WriteCase writes its folder in the formats asked for (Formats):
//
//	summary.json      the case in one document: tool and command line, evidence
//	                  inventory with SHA-256, parse health, census, hosts, duplicate
//	                  and conflicting records, rules, findings by severity and rule
//	detections.jsonl  a finding a line: rule, ATT&CK, first and last time, next hops,
//	                  the first hits with their chains, the records of every hit
//	timeline.jsonl    a process a line, in UTC (WriteTimelineJSONL)
//	timeline.csv      the same for Timesketch, cells guarded against formulas
//	                  (WriteTimelineCSV)
//	report.html       one self-contained page, within a size bound (WriteHTML)
//	report.xlsx       the annotated workbook; a full sheet continues on a numbered
//	                  next one (WriteXLSX)
//
// Each file is written under a temporary name and renamed into place when
// whole (AtomicFile); a file that fails does not stop the others, and
// summary.json, written last, lists what was written (IncompleteError names
// the rest). The caller writes events.jsonl, every event read, the same way
// (CreateAtomic); evtxhunt merge rebuilds a case from it and ReadSummary.
// WriteTimelineFiles and WriteTree serve evtxhunt timeline.
//
// Every report shows a process as timeline.Process's accessors give it
// (its parent's image and command line: the event's own first, then the
// linked parent's), and every value from the evidence or a rule is made
// safe on its way to a person: control characters shown as escapes, long
// values cut with a marker that says so. The JSON files keep the exact
// values.
package reports
