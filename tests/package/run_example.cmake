# Runs the embed_registry example (EXAMPLE, the path of the binary) and fails
# unless it exits 0 AND prints what it should: a pass regular expression alone
# would accept a crash after the output.
execute_process(COMMAND "${EXAMPLE}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "embed_registry exited with ${rc}")
endif()
foreach(expected "registered github" "registered stripe" "\"oauth2\":{\"github\""
                 "\"api_key\":{\"stripe\"")
  string(FIND "${out}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "embed_registry did not print ${expected}")
  endif()
endforeach()
string(FIND "${out}${err}" "your-github-client-secret" leaked)
if(NOT leaked EQUAL -1)
  message(FATAL_ERROR "the client secret leaked into the example's output")
endif()
