// Package timeline rebuilds per-host process timelines and process trees from
// the parser's ProcessEvents: host names, merging the 4688 and Sysmon views of
// one process, parent links by GUID or by PID and lifetime, ancestry, order
// and filters. It is built by its own issue; nothing here yet.
package timeline
