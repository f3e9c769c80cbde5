package ktgrpc

import (
	"reflect"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	ktgrpcv1 "github.com/ktgrpc/ktgrpc/gen/ktgrpc/v1"
)

// wrappers names the Client method that makes each call of the API. A call
// missing here fails TestEveryCallHasAMethod: give it a method (and a line
// here) when it is added to the .proto files.
var wrappers = map[string]string{
	"ktgrpc.v1.KV.Get":                  "GetRecord",
	"ktgrpc.v1.KV.GetBulk":              "GetMultiRecords",
	"ktgrpc.v1.KV.Set":                  "Set",
	"ktgrpc.v1.KV.SetBulk":              "SetMulti",
	"ktgrpc.v1.KV.Add":                  "Add",
	"ktgrpc.v1.KV.Replace":              "Replace",
	"ktgrpc.v1.KV.Append":               "Append",
	"ktgrpc.v1.KV.Remove":               "Remove",
	"ktgrpc.v1.KV.RemoveBulk":           "RemoveMulti",
	"ktgrpc.v1.KV.Check":                "Check",
	"ktgrpc.v1.KV.Seize":                "Seize",
	"ktgrpc.v1.KV.CompareAndSwap":       "CompareAndSwap",
	"ktgrpc.v1.KV.Increment":            "Increment",
	"ktgrpc.v1.KV.IncrementDouble":      "IncrementFloat",
	"ktgrpc.v1.KV.MatchKeys":            "MatchPrefix",
	"ktgrpc.v1.KV.Pipeline":             "Pipeline",
	"ktgrpc.v1.Cursor.Scan":             "Scan",
	"ktgrpc.v1.Cursor.Open":             "OpenCursor",
	"ktgrpc.v1.Replication.Subscribe":   "Subscribe",
	"ktgrpc.v1.Replication.Watch":       "Watch",
	"ktgrpc.v1.Script.Call":             "CallScript",
	"ktgrpc.v1.Table.Put":               "TablePut",
	"ktgrpc.v1.Table.Get":               "TableGet",
	"ktgrpc.v1.Table.Search":            "TableSearch",
	"ktgrpc.v1.Table.SetIndex":          "TableSetIndex",
	"ktgrpc.v1.Table.GenerateID":        "TableGenerateID",
	"ktgrpc.v1.Admin.Status":            "Status",
	"ktgrpc.v1.Admin.Report":            "Report",
	"ktgrpc.v1.Admin.Clear":             "Clear",
	"ktgrpc.v1.Admin.Synchronize":       "Synchronize",
	"ktgrpc.v1.Admin.Vacuum":            "Vacuum",
	"ktgrpc.v1.Admin.Databases":         "Databases",
	"ktgrpc.v1.Admin.Optimize":          "Optimize",
	"ktgrpc.v1.Admin.Copy":              "Copy",
	"ktgrpc.v1.Admin.Restore":           "Restore",
	"ktgrpc.v1.Admin.SetMaster":         "SetMaster",
	"ktgrpc.v1.Admin.Misc":              "Misc",
	"ktgrpc.v1.Admin.TuneReplication":   "TuneReplication",
	"ktgrpc.v1.Admin.ListUpdateLogs":    "ListUpdateLogs",
	"ktgrpc.v1.Admin.RemoveUpdateLogs":  "RemoveUpdateLogs",
	"ktgrpc.v1.Admin.ReplicationStatus": "ReplicationStatus",
	"ktgrpc.v1.Admin.Capabilities":      "Capabilities",
}

// TestEveryCallHasAMethod checks that every call of every service in the
// API has a method of Client, so that a new call cannot be left reachable
// only through the generated stubs.
func TestEveryCallHasAMethod(t *testing.T) {
	_ = ktgrpcv1.File_ktgrpc_v1_kv_proto // the stubs register the API's files
	client := reflect.TypeOf(&Client{})
	n := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("ktgrpc.v1", func(f protoreflect.FileDescriptor) bool {
		for i := range f.Services().Len() {
			methods := f.Services().Get(i).Methods()
			for j := range methods.Len() {
				name := string(methods.Get(j).FullName())
				n++
				m, ok := wrappers[name]
				if !ok {
					t.Errorf("%s has no method of Client (add one, and list it in wrappers)", name)
					continue
				}
				if _, ok := client.MethodByName(m); !ok {
					t.Errorf("%s: Client has no method %s", name, m)
				}
			}
		}
		return true
	})
	if n < len(wrappers) {
		t.Errorf("found %d calls in package ktgrpc.v1, fewer than the %d wrapped: is the registry empty?", n, len(wrappers))
	}
}
